"""Inputs to jobs: which files a command works on and where each one's output goes.

:func:`discover` walks the inputs (files and folders, recursively or not, with a glob), leaving
out hidden files, enhance's temp files and the output folder; :func:`plan_jobs` maps each input to
its output under ``-o``, mirroring the input tree; :func:`collect_jobs` does both for a run and
refuses, before any image is read, a plan that would lose data: two inputs written to one output,
an output that is an input or falls inside an input folder, an output an earlier run wrote from
another input, an output name longer than the file system allows, or ``format: same`` on a file
whose suffix names no format. It also leaves out the outputs of earlier runs found among the
inputs, but only those a record still vouches for (:func:`vouches_for_output`).

``run``, ``score``, ``pick`` and the reference pairing of ``score`` share it, and every runner
(local or distributed) plans through it, so they refuse the same things with the same words.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .events import EventSink, Notice, emitter
from .manifest import read_earlier

if TYPE_CHECKING:
    from .config import OutputSpec

__all__ = ["Job", "collect_jobs", "discover", "plan_jobs", "stamp", "vouches_for_output"]


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    source: Path
    relative: Path
    destination: Path


def discover(
    inputs: Sequence[Path | str],
    *,
    recursive: bool = False,
    pattern: str | None = None,
    exclude: Path | None = None,
    skip: Iterable[Path] = (),
) -> list[tuple[Path, Path]]:
    """Files to process as (path, path relative to its input root), in a stable order.

    A file given directly is taken as is (its relative path is its name). A folder contributes its
    image files (by suffix, case-insensitive), recursively with ``recursive``; ``pattern`` is a
    glob matched against the relative path and the name. Hidden files, enhance's temp files,
    anything under ``exclude`` (the output folder, when it lies inside an input folder) and the
    files in ``skip`` (outputs of earlier runs) are left out. An input folder that is ``exclude``
    or lies inside it is walked whole: its files are inputs, and earlier outputs among them are
    recognised through ``skip``.

    Raises:
        ConfigError: an input does not exist.
    """
    from .files import is_temp_name
    from .io import SUPPORTED_SUFFIXES

    suffixes = {s.lower() for s in SUPPORTED_SUFFIXES}
    exclude = exclude.resolve() if exclude is not None else None
    skip = {p.resolve() for p in skip}
    found: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_file():
            found.append((item, Path(item.name)))
            continue
        if not item.is_dir():
            raise ConfigError(f"{item}: input not found; give existing files or folders")
        # an output folder that *is* the input folder, or holds it, excludes nothing from it (the
        # overwrite checks guard it); one that lies inside it is left out
        nested_out = exclude if exclude is not None and not item.resolve().is_relative_to(exclude) else None
        walker = item.rglob("*") if recursive else item.glob("*")
        for path in sorted(walker):
            relative = path.relative_to(item)
            if any(part.startswith(".") for part in relative.parts) or is_temp_name(path.name):
                continue
            if path.suffix.lower() not in suffixes or not path.is_file():
                continue
            resolved = path.resolve()
            if resolved in skip or (nested_out is not None and _under(path, resolved, nested_out)):
                continue
            if pattern and not (fnmatch.fnmatch(relative.as_posix(), pattern) or fnmatch.fnmatch(path.name, pattern)):
                continue
            found.append((path, relative))
    return found


def _under(path: Path, resolved: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder``, either where it is (a link an earlier ``pick --link``
    left in the output folder points out of it) or where it points."""
    return resolved.is_relative_to(folder) or (path.parent.resolve() / path.name).is_relative_to(folder)


def plan_jobs(found: Iterable[tuple[Path, Path]], out_dir: Path, output: OutputSpec) -> list[Job]:
    """Map inputs to outputs under ``out_dir``, mirroring the input tree.

    Raises:
        ConfigError: an output would overwrite an input, or escape the output folder, or (with
            ``format: same``) an input has no image suffix to take the output format from, or an
            output name would be longer than the file system allows.
    """
    from .files import name_max

    root = out_dir.resolve()
    jobs = []
    limits: dict[Path, int] = {}
    for source, relative in found:
        if output.format == "same":
            _check_same_format(source)
        name = f"{relative.stem}{output.suffix}{output.suffix_for(source)}"
        folder = root / relative.parent
        limit = limits.setdefault(folder, name_max(folder))
        _check_name_length(source, name, limit, output)
        destination = (root / relative.parent / name).resolve()
        if not destination.is_relative_to(root):
            raise ConfigError(f"{source}: its output {destination} would fall outside {root}")
        if destination == source.resolve():
            raise ConfigError(
                f"{source}: the output would overwrite this input; choose another -o folder "
                "or set an output suffix (--set output.suffix=_4k)"
            )
        jobs.append(Job(source, relative, destination))
    return jobs


def _check_name_length(source: Path, name: str, limit: int, output: OutputSpec) -> None:
    """Refuse, at planning, an output name the file system cannot hold (rather than fail the file
    after its compute)."""
    from .files import name_bytes

    size = name_bytes(name)
    if size > limit:
        fix = (
            "choose a shorter output suffix (--set output.suffix=...)"
            if output.suffix
            else "rename the input or choose an output format with a shorter suffix"
        )
        raise ConfigError(
            f"{source}: its output name {name} would be {size} bytes, over the file system's limit of {limit}; {fix}"
        )


def _check_same_format(source: Path) -> None:
    """With ``format: same`` the output format comes from the input's suffix: refuse, at planning,
    an input whose suffix names no format (rather than fail it after the compute)."""
    from .io import format_for_suffix

    try:
        format_for_suffix(source.suffix)
    except ValueError:
        what = f"suffix {source.suffix!r}" if source.suffix else "no suffix"
        raise ConfigError(
            f"{source}: output format 'same' takes the format from the input's suffix, and it has {what}; "
            "choose one (--set output.format=png)"
        ) from None


def collect_jobs(
    inputs: Sequence[Path | str],
    out_dir: Path,
    output: OutputSpec,
    *,
    recursive: bool = False,
    pattern: str | None = None,
    earlier: Mapping[str, dict[str, Any]] | None = None,
    on_event: EventSink | None = None,
) -> list[Job]:
    """Discover inputs and plan their outputs, leaving out what earlier runs wrote into ``out_dir``.

    A discovered file is left out as an earlier output only when a record vouches for it: the
    earlier run finished it (``done``, or ``skipped`` as done before), it lies inside ``out_dir``,
    and its size and modification time are still those the run recorded when it wrote it. So a
    manifest that names an input as an output never makes that input vanish. How many files
    were left out is said in one line, an info :class:`~enhance.events.Notice` to ``on_event``.

    Args:
        earlier: the records of earlier runs by input (default: read from ``out_dir``).

    Raises:
        ConfigError: an ``out_dir`` that is not a folder, a missing input, an output that would
            overwrite an input (its own or another one's), fall inside an input folder that lies
            inside ``out_dir``, or escape ``out_dir``, two inputs that would be written to the same
            output, or an output an earlier run wrote from another input.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {out_dir}: exists and is not a folder; choose another -o")
    records = list((read_earlier(out_dir) if earlier is None else earlier).values())
    root = out_dir.resolve()
    made = {Path(r["output"]) for r in records if vouches_for_output(r, root)}
    found = discover(inputs, recursive=recursive, pattern=pattern, exclude=out_dir)
    kept = [(path, relative) for path, relative in found if path.resolve() not in made]
    if len(kept) < len(found):
        left_out = f"{len(found) - len(kept)} file(s) in the inputs left out: an earlier run wrote them into {out_dir}"
        emitter(on_event)(Notice("info", left_out))
    jobs = plan_jobs(kept, out_dir, output)
    _check_collisions(jobs)
    _check_inputs_kept(jobs)
    _check_input_folders_kept(jobs, inputs, out_dir)
    _check_earlier_outputs(jobs, records)
    return jobs


def stamp(path: Path) -> dict[str, int]:
    """What identifies the file a run just wrote: its size and modification time (ns)."""
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def vouches_for_output(record: Mapping[str, Any], root: Path) -> bool:
    """True when ``record`` says an earlier run wrote its ``output`` inside ``root`` and that file
    is still the one it wrote (same size and modification time)."""
    output, written = record.get("output"), record.get("written")
    if record.get("status") not in ("done", "skipped") or not isinstance(output, str) or not isinstance(written, dict):
        return False
    path = Path(output)
    if not path.is_absolute() or not path.is_relative_to(root):
        return False
    try:
        return stamp(path) == {"bytes": written.get("bytes"), "mtime_ns": written.get("mtime_ns")}
    except OSError:
        return False


def _check_collisions(jobs: Sequence[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        other = seen.get(job.destination)
        if other is not None:
            raise ConfigError(
                f"{job.source} and {other} would both be written to {job.destination}; "
                "keep each input's format (--set output.format=same) or leave one of them out"
            )
        seen[job.destination] = job.source


def _check_inputs_kept(jobs: Sequence[Job]) -> None:
    """Refuse a plan where one job's output is another job's input: it would clobber that input
    (with --overwrite) or wrongly skip a file whose output merely looks done."""
    sources = {job.source.resolve(): job.source for job in jobs}
    for job in jobs:
        other = sources.get(job.destination)
        if other is not None and other.resolve() != job.source.resolve():
            raise ConfigError(
                f"{job.source}: its output {job.destination} is the input {other}; "
                "choose another -o folder or another suffix (--set output.suffix=...)"
            )


def _check_input_folders_kept(jobs: Sequence[Job], inputs: Sequence[Path | str], out_dir: Path) -> None:
    """Refuse a job whose output falls inside an input folder that lies inside ``out_dir``
    (``run out/x -o out -R`` maps ``out/x/x/a.png`` to ``out/x/a.png``): it would overwrite a file
    of that input, and a rerun would take the output for a new input."""
    root = out_dir.resolve()
    folders = [Path(i) for i in inputs if Path(i).is_dir()]
    held = [(f, f.resolve()) for f in folders if f.resolve() != root and f.resolve().is_relative_to(root)]
    for job in jobs:
        for given, folder in held:
            if job.destination.is_relative_to(folder):
                raise ConfigError(
                    f"{job.source}: its output {job.destination} would fall inside the input folder {given}; "
                    "choose an -o that does not hold the input folders"
                )


def _check_earlier_outputs(jobs: Sequence[Job], earlier: Iterable[dict[str, Any]]) -> None:
    """Refuse a job whose output exists and was written from a different input by an earlier run:
    skipping it would report a file that was never made, overwriting it would clobber the other."""
    written_from = {
        Path(r["output"]): Path(r["input"]) for r in earlier if r.get("output") and r.get("status") != "failed"
    }
    for job in jobs:
        other = written_from.get(job.destination)
        if other is not None and other != job.source.resolve() and job.destination.exists():
            raise ConfigError(
                f"{job.source}: its output {job.destination} was written from {other} by an earlier run; "
                "keep each input's format (--set output.format=same) or choose another -o folder"
            )
