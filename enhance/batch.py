"""Folder runner: discover inputs, skip finished ones, decode ahead and encode behind on threads,
compute in order on the device, write atomically, and keep a manifest of every file's outcome.

One bad file never stops the batch: it is reported in one line, recorded in ``manifest.json`` and
the run goes on. Ctrl-C leaves no partial file (writes are atomic and in-flight writes finish), and
a rerun skips what is done. The output folder is held by one command at a time
(:func:`enhance.files.lock_folder`), and each finished file's record is journalled as it finishes
(:class:`enhance.manifest.Journal`), so a run killed outright loses no record either.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .devices import is_out_of_memory, release_memory
from .errors import ConfigError
from .manifest import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    Earlier,
    Journal,
    build_manifest,
    failure_message,
    load_earlier,
    new_record,
    now,
    read_earlier,
    set_aside,
    summarize,
    write_manifest,
)

if TYPE_CHECKING:
    from .config import OutputSpec
    from .pipeline import Pipeline

__all__ = ["MANIFEST_NAME", "BatchResult", "Job", "collect_jobs", "discover", "plan_jobs", "run_batch"]


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    source: Path
    relative: Path
    destination: Path


@dataclass
class BatchResult:
    """Outcome of a batch: per-file records (manifest order) and counts."""

    records: list[dict[str, Any]] = field(default_factory=list)
    manifest_path: Path | None = None
    interrupted: bool = False
    #: one line per file of the run's own (manifest.json, a report) that could not be written
    unwritten: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.records)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when some file failed or manifest.json or a report could not
        be written."""
        return 1 if self.count("failed") or self.unwritten else 0


# -- discovery ---------------------------------------------------------------------------------


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
    echo: Callable[[str], None] | None = None,
) -> list[Job]:
    """Discover inputs and plan their outputs, leaving out what earlier runs wrote into ``out_dir``.

    A discovered file is left out as an earlier output only when a record vouches for it: the
    earlier run finished it (``done``, or ``skipped`` as done before), it lies inside ``out_dir``,
    and its size and modification time are still those the run recorded when it wrote it. So a
    manifest that names an input as an output never makes that input vanish. How many files
    were left out is said in one line on ``echo``.

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
    made = {Path(r["output"]) for r in records if _vouches_for_output(r, root)}
    found = discover(inputs, recursive=recursive, pattern=pattern, exclude=out_dir)
    kept = [(path, relative) for path, relative in found if path.resolve() not in made]
    if len(kept) < len(found) and echo is not None:
        echo(f"{len(found) - len(kept)} file(s) in the inputs left out: an earlier run wrote them into {out_dir}")
    jobs = plan_jobs(kept, out_dir, output)
    _check_collisions(jobs)
    _check_inputs_kept(jobs)
    _check_input_folders_kept(jobs, inputs, out_dir)
    _check_earlier_outputs(jobs, records)
    return jobs


def _stamp(path: Path) -> dict[str, int]:
    """What identifies the file a run just wrote: its size and modification time (ns)."""
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _vouches_for_output(record: Mapping[str, Any], root: Path) -> bool:
    """True when ``record`` says an earlier run wrote its ``output`` inside ``root`` and that file
    is still the one it wrote (same size and modification time)."""
    output, written = record.get("output"), record.get("written")
    if record.get("status") not in ("done", "skipped") or not isinstance(output, str) or not isinstance(written, dict):
        return False
    path = Path(output)
    if not path.is_absolute() or not path.is_relative_to(root):
        return False
    try:
        return _stamp(path) == {"bytes": written.get("bytes"), "mtime_ns": written.get("mtime_ns")}
    except OSError:
        return False


# -- the run -----------------------------------------------------------------------------------


def _record(job: Job, status: str, **extra: Any) -> dict[str, Any]:
    return new_record(job.source, job.relative, status, output=job.destination, **extra)


class _Progress:
    """A rich progress bar on a terminal; silent otherwise. Failure lines always print."""

    def __init__(self, total: int, enabled: bool, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._bar: Any = None
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task("enhance", total=total, rate="")
            self._start = time.perf_counter()
            self._done = 0
            self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._done += 1
            rate = self._done / max(time.perf_counter() - self._start, 1e-9)
            self._bar.update(self._task, advance=1, rate=f"{rate:.2f} img/s")

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self._echo(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def run_batch(
    pipeline: Pipeline,
    inputs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    recursive: bool = False,
    pattern: str | None = None,
    overwrite: bool = False,
    jobs: int | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    config: Path | None = None,
) -> BatchResult:
    """Run ``pipeline`` over files and folders, writing results under ``out_dir``.

    Args:
        pipeline: a built pipeline; :meth:`Pipeline.setup` runs first, so a missing model or bad
            device stops the run (ConfigError) before any image is touched.
        inputs: files and folders; folders mirror their tree into ``out_dir``.
        recursive: descend into sub-folders.
        pattern: glob on relative paths/names (e.g. ``*.png``).
        overwrite: redo files whose output exists (otherwise they are skipped: resume).
        jobs: decode/encode worker threads (default: up to 4).
        progress: show a progress bar (callers pass True on a terminal).
        echo: where one-line failure messages go.
        config: the pipelines file, recorded in the manifest.

    Returns:
        The records (also written to ``out_dir/manifest.json``) and counts.

    Raises:
        ConfigError: bad usage (see :func:`collect_jobs`), a setup failure, or an ``out_dir``
            that cannot be created or written, or that another enhance command is writing into:
            the folder is held for the whole run (:func:`enhance.files.lock_folder`), and taking
            it is the run's first write, before any image is read.
    """
    from .files import lock_folder

    out_dir = Path(out_dir)
    with lock_folder(out_dir, "enhance run"):
        return _run_locked(
            pipeline,
            inputs,
            out_dir,
            recursive=recursive,
            pattern=pattern,
            overwrite=overwrite,
            jobs=jobs,
            progress=progress,
            echo=echo,
            config=config,
        )


def _run_locked(
    pipeline: Pipeline,
    inputs: Sequence[Path | str],
    out_dir: Path,
    *,
    recursive: bool,
    pattern: str | None,
    overwrite: bool,
    jobs: int | None,
    progress: bool,
    echo: Callable[[str], None],
    config: Path | None,
) -> BatchResult:
    """:func:`run_batch` once the output folder is held."""
    from .files import remove_stale_temps
    from .io import decode, encode

    earlier = load_earlier(out_dir)  # a killed run's journal included
    planned = collect_jobs(
        inputs, out_dir, pipeline.output, recursive=recursive, pattern=pattern, earlier=earlier.records, echo=echo
    )
    base = pipeline.setup()  # ConfigError here: nothing processed, nothing written

    remove_stale_temps(out_dir)
    _report_earlier(earlier, echo)
    manifest_path = out_dir / MANIFEST_NAME
    previous = earlier.records
    result = BatchResult(manifest_path=manifest_path)
    started = now()

    todo: list[Job] = []
    unrecorded: set[Path] = set()
    for job in planned:
        earlier = previous.get(str(job.source.resolve()), {})
        if not overwrite and job.destination.exists():
            if _made_by(earlier, job):
                result.records.append(_skipped(job, earlier))
                continue
            unrecorded.add(job.destination)
        todo.append(job)

    workers = max(1, jobs or min(4, os.cpu_count() or 1))
    window = 2 * workers  # decodes ahead / encodes behind held in memory at once
    bar = _Progress(len(todo), progress, echo)
    lock = threading.Lock()
    journal = Journal(out_dir / JOURNAL_NAME, on_error=lambda line: bar.message(f"warning: {line}")).open()

    def failed(job: Job, exc: BaseException, **extra: Any) -> dict[str, Any]:
        message = failure_message(exc, job.source, job.relative)
        bar.message(f"failed: {message}")
        record = _record(job, "failed", error=message, **extra)
        journal.append(record)
        return record

    def timed_decode(job: Job) -> tuple[Any, float]:
        t0 = time.perf_counter()
        raster = decode(job.source)
        return raster, time.perf_counter() - t0

    def timed_encode(job: Job, raster: Any, record: dict[str, Any]) -> float:
        """Encode and write atomically, then journal the record at once: a kill from here on
        loses neither the output nor its record."""
        t0 = time.perf_counter()
        job.destination.parent.mkdir(parents=True, exist_ok=True)
        encode(raster, job.destination, **pipeline.output.encode_options(job.source))
        elapsed = time.perf_counter() - t0
        record["timings"]["write"] = round(elapsed, 4)
        record["written"] = _stamp(job.destination)  # how a later run knows this file as ours
        journal.append(record)
        return elapsed

    decoder = ThreadPoolExecutor(workers, thread_name_prefix="enhance-decode")
    encoder = ThreadPoolExecutor(workers, thread_name_prefix="enhance-encode")
    reads: deque[tuple[Job, Future[Any]]] = deque()
    writes: deque[tuple[dict[str, Any], Future[float]]] = deque()
    pending = iter(todo)

    def finish_write(record: dict[str, Any], future: Future[float]) -> None:
        try:
            record["timings"]["write"] = round(future.result(), 4)
        except Exception as exc:  # an encoder error fails this file only
            job = Job(Path(record["input"]), Path(record["relative"]), Path(record["output"]))
            record.update(failed(job, exc, timings=record["timings"], size=record["size"]))
        with lock:
            result.records.append(record)
        bar.advance()

    def refill() -> None:
        while len(reads) < window:
            job = next(pending, None)
            if job is None:
                return
            reads.append((job, decoder.submit(timed_decode, job)))

    try:
        refill()
        while reads:
            job, future = reads.popleft()
            refill()
            try:
                raster, read_time = future.result()
            except Exception as exc:
                result.records.append(failed(job, exc))
                bar.advance()
                continue
            t0 = time.perf_counter()
            try:
                out, image, ctx = pipeline.process_raster(raster, path=job.source)
            except Exception as exc:
                if is_out_of_memory(exc):
                    release_memory(base.device)
                result.records.append(failed(job, exc, timings={"read": round(read_time, 4)}))
                bar.advance()
                continue
            warnings = list(ctx.warnings)
            if job.destination in unrecorded:
                warnings.append(
                    "replaced an existing file of this name that no earlier run recorded writing "
                    "(an interrupted write, or a file put there)"
                )
            record = _record(
                job,
                "done",
                timings={"read": round(read_time, 4), "compute": round(time.perf_counter() - t0, 4)},
                size={"input": [raster.array.shape[1], raster.array.shape[0]], "output": list(image.size)},
                results=ctx.results,
                warnings=warnings,
            )
            del image
            writes.append((record, encoder.submit(timed_encode, job, out, record)))
            while len(writes) > window or (writes and writes[0][1].done()):
                finish_write(*writes.popleft())
        while writes:
            finish_write(*writes.popleft())
    except KeyboardInterrupt:
        result.interrupted = True
        for _, future in reads:
            future.cancel()
        # writes already handed to the encoder finish (atomically) so their work is kept
        for record, future in writes:
            if not future.cancelled():
                try:
                    record["timings"]["write"] = round(future.result(), 4)
                    result.records.append(record)
                except BaseException:
                    pass
        raise
    finally:
        decoder.shutdown(wait=True, cancel_futures=True)
        encoder.shutdown(wait=True, cancel_futures=True)
        bar.close()
        order = {str(j.source.resolve()): i for i, j in enumerate(planned)}
        result.records.sort(key=lambda r: order.get(r["input"], len(order)))
        journal.close()
        if _write_manifest(result, previous, pipeline, base, config, started, echo=bar.message):
            journal.remove()  # its records are in manifest.json now
    return result


def _report_earlier(earlier: Earlier, echo: Callable[[str], None]) -> None:
    """Say (one line each) what of the earlier runs' records could not be used, moving an
    unusable manifest.json aside first: it is never deleted, nor silently replaced."""
    moved = ""
    if earlier.broken is not None:
        try:
            moved = f"; moved aside to {set_aside(earlier.broken)}"
        except OSError as exc:
            moved = f"; it could not be moved aside ({exc.strerror or exc}) and will be replaced"
    for number, line in enumerate(earlier.warnings):
        echo(f"warning: {line}{moved if number == 0 and earlier.broken is not None else ''}")


def _made_by(earlier: dict[str, Any], job: Job) -> bool:
    """True when an earlier run recorded making ``job``'s output from this input (done, or
    skipped as done before): only then is an existing output skipped. An output without such a
    record (a write a kill cut off before its record, a file someone put there) is redone, so
    every finished input ends up with its record and results."""
    return earlier.get("status") in ("done", "skipped") and earlier.get("output") == str(job.destination)


def _skipped(job: Job, earlier: dict[str, Any]) -> dict[str, Any]:
    """The record of a file an earlier run finished: its results, sizes and timings kept."""
    extra = {"written": earlier["written"]} if "written" in earlier else {}
    return _record(
        job,
        "skipped",
        timings=earlier.get("timings", {}),
        results=earlier.get("results", {}),
        size=earlier.get("size", {}),
        warnings=["output exists; rerun with --overwrite to redo it"],
        **extra,
    )


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


def _merge_records(current: list[dict[str, Any]], earlier: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's records, then the earlier manifest's records of inputs this run did not touch.

    Keeping those means a partial rerun (``--glob``, one file) forgets no earlier output: they stay
    recognised as outputs (never taken as inputs) and in the reports. An earlier record whose output
    this run wrote from another input no longer describes that file and is dropped.
    """
    inputs = {r["input"] for r in current}
    written = {r["output"] for r in current if r["status"] == "done" and r.get("output")}
    kept = [r for key, r in earlier.items() if key not in inputs and not (r.get("output") and r["output"] in written)]
    return [*current, *kept]


def _write_manifest(
    result: BatchResult,
    earlier: dict[str, dict[str, Any]],
    pipeline: Pipeline,
    base: Any,
    config: Path | None,
    started: str,
    echo: Callable[[str], None] = print,
) -> bool:
    """Write manifest.json (and the reports, when scored): ``summary`` covers every file listed
    (earlier runs' included), ``this_run`` only this run's records. True once manifest.json is
    written.

    A file that cannot be written (disk full, the folder turned read-only) is one line on
    ``echo`` naming it and the fix, and goes to ``result.unwritten`` (exit 1); the journal is
    then kept, so a rerun recovers every record.
    """
    from .report import save_reports

    if result.manifest_path is None:
        return False
    records = _merge_records(result.records, earlier)
    data = build_manifest(
        "run",
        records,
        started=started,
        pipeline=pipeline.name,
        config=str(config) if config else None,
        device=str(base.device),
        interrupted=result.interrupted,
        this_run=summarize(result.records),
    )
    try:
        write_manifest(result.manifest_path, data)
    except OSError as exc:
        journal = result.manifest_path.parent / JOURNAL_NAME
        line = (
            f"{result.manifest_path}: cannot be written ({exc.strerror or exc}); the outputs and their records "
            f"(in {journal}) are kept: free some space or make the folder writable, then rerun to write it"
        )
        result.unwritten.append(line)
        echo(f"error: {line}")
        return False
    if any(r.get("results", {}).get("scores") for r in records):
        _, problem = save_reports(data, result.manifest_path.parent)
        if problem is not None:
            result.unwritten.append(problem)
            echo(f"error: {problem}")
    return True
