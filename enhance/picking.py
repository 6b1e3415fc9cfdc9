"""Best-of-N: rank candidate images of the same prompt and keep the best (``enhance pick``).

Candidates are grouped by folder (one folder per prompt) or by a regular expression on the file
name (its first capture group, or the whole match, is the group). Each group is ranked by one
metric in its own direction or by weighted z-scores (the math is :mod:`enhance.metrics.ranking`),
and the top K of each group are copied (atomically) or symbolically linked into the output
folder, under the group's name.

Nothing is copied before everything is decided: options are checked, every candidate is scored,
every destination is planned and the whole plan is checked (no destination is an input, a
folder, or inside an input folder) before the first file is placed, so a usage error never
leaves some picks written.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, EnhanceError, InputError
from .events import EventSink, FileFinished, FilesPlanned, Notice, emitter
from .manifest import build_manifest, failure_message, new_record, now
from .metrics.ranking import Ranking, check_weight, rank_scores

__all__ = ["GroupBy", "group_candidates", "pick_best"]

GroupBy = Literal["folder", "pattern"]


def _safe_name(text: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", text).strip(" .")
    return cleaned or "group"


def _group_regex(group_by: str, pattern: str | None) -> re.Pattern[str] | None:
    """The compiled ``--pattern`` (None when grouping by folder).

    Raises:
        ConfigError: an unknown ``group_by``, or ``pattern`` missing or not a valid regular expression.
    """
    if group_by == "folder":
        return None
    if group_by != "pattern":
        raise ConfigError(f"--group-by must be folder or pattern, got {group_by!r}")
    if not pattern:
        raise ConfigError("--group-by pattern needs --pattern REGEX, e.g. '(.+)_seed\\d+'")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--pattern {pattern!r} is not a valid regular expression: {exc}") from None


def group_candidates(
    found: Sequence[tuple[Path, Path]], group_by: GroupBy = "folder", pattern: str | None = None
) -> tuple[dict[str, list[tuple[Path, Path]]], list[tuple[Path, Path]]]:
    """Group discovered ``(path, relative)`` pairs; returns the groups and the files left out
    (names the pattern does not match).

    By folder, the group is the file's folder under its input (or the input folder's own name for
    files directly inside it). By pattern, it is the first capture group of the regular expression
    searched in the file stem, or the whole match.

    Raises:
        ConfigError: ``pattern`` missing or not a valid regular expression.
    """
    groups: dict[str, list[tuple[Path, Path]]] = {}
    unmatched: list[tuple[Path, Path]] = []
    regex = _group_regex(group_by, pattern)
    for path, relative in found:
        if regex is not None:
            match = regex.search(path.stem)
            if match is None:
                unmatched.append((path, relative))
                continue
            key = match.group(1) if regex.groups and match.group(1) is not None else match.group(0)
        else:
            parent = relative.parent.as_posix()
            root = path.parent if parent == "." else path.parents[len(relative.parts) - 1]
            key = parent if parent != "." else root.name or "."
        groups.setdefault(key, []).append((path, relative))
    return groups, unmatched


def _unique(destination: Path, taken: set[Path]) -> Path:
    """``destination``, or ``name-2.ext``, ``name-3.ext``... when this run already wrote it (two
    candidates of one group with the same file name, from different folders)."""
    candidate, n = destination, 1
    while candidate in taken:
        n += 1
        candidate = destination.with_name(f"{destination.stem}-{n}{destination.suffix}")
    return candidate


def _destination(root: Path, folder: str, source: Path, placed: set[Path]) -> Path:
    """Where a picked ``source`` goes: ``root/folder/name``, with the folders resolved but not a
    final symlink, which an earlier ``--link`` pick left there and is replaced, not followed.
    Whether that place may be written is :func:`_check_plan`'s decision."""
    parent = (root / folder).resolve()
    return _unique(parent / source.name, placed)


def _identity(path: Path, *, follow: bool = True) -> tuple[int, int] | None:
    """The file's (device, inode), or None when there is none; ``follow=False`` takes a final
    symlink itself (a link an earlier pick left is not the file it points to)."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, by resolved path or by identity of the
    path or one of its existing folders (another name for the same folder: a bind mount, a
    case-insensitive file system)."""
    if path.is_relative_to(folder):
        return True
    target = _identity(folder)
    return target is not None and any(_identity(p) == target for p in (path, *path.parents))


class _Inputs:
    """What a pick must never write onto: the candidate files, by place and by identity, and the
    input folders a destination must stay out of (as given, and resolved)."""

    def __init__(self, inputs: Sequence[Path | str], found: Sequence[tuple[Path, Path]], root: Path) -> None:
        """The inputs of this pick. An input folder that holds ``root`` strictly (``pick in -o
        in/best``) is not guarded: discovery left ``root`` out of it and every destination lies in
        ``root``; one that is ``root``, or lies inside it, is."""
        self.root = root
        self.files: dict[Path, Path] = {}
        self.identities: dict[tuple[int, int], Path] = {}
        for path, _ in found:
            for place in (path.absolute(), path.parent.resolve() / path.name, path.resolve()):
                self.files.setdefault(place, path)
            for identity in (_identity(path), _identity(path, follow=False)):
                if identity is not None:
                    self.identities.setdefault(identity, path)
        self.folders: list[tuple[Path, Path]] = []
        for given in map(Path, inputs):
            folder = given.resolve()
            holds_root = _within(root, folder) and _identity(root) != _identity(folder)
            if given.is_dir() and not holds_root:
                self.folders.append((given, folder))
        self._by_identity: dict[tuple[int, int], Path] = {}
        for given, folder in self.folders:
            identity = _identity(folder)
            if identity is not None:
                self._by_identity.setdefault(identity, given)
        self._seen: dict[Path, tuple[int, int] | None] = {}

    def input_at(self, destination: Path) -> Path | None:
        """The input file ``destination`` is (by place, or the same file under another name)."""
        found = self.files.get(destination)
        if found is None:
            identity = _identity(destination, follow=False)
            found = self.identities.get(identity) if identity is not None else None
        return found

    def folder_holding(self, path: Path) -> Path | None:
        """The guarded input folder (as given) that ``path`` is or lies in, if any."""
        for given, folder in self.folders:
            if path.is_relative_to(folder):
                return given
        for ancestor in (path, *path.parents):  # another name for an input folder
            if ancestor not in self._seen:
                self._seen[ancestor] = _identity(ancestor)
            identity = self._seen[ancestor]
            if identity is not None and identity in self._by_identity:
                return self._by_identity[identity]
        return None

    def fix(self, place: Path) -> str:
        """What to do instead, naming a nested -o in the input folder that holds ``place``."""
        given = self.folder_holding(place)
        if given is not None and (given / "best").resolve() != self.root:
            return f"choose an -o outside the inputs, or inside one such as {given / 'best'}"
        return "choose an -o outside the inputs"


def _check_plan(plan: Sequence[tuple[Path, Path]], keep: _Inputs) -> None:
    """Refuse, before anything is copied, a plan that would write onto an input (the same path,
    the same file through a link or another name, a hard link to it), into an input folder, onto
    a folder, or where a folder is needed.

    Raises:
        ConfigError: one line naming the picked file, the destination, the input and the fix.
    """
    planned = {destination for _, destination in plan}
    for source, destination in plan:
        where = f"{source}: picking it would write {destination}"
        if not destination.is_relative_to(keep.root):
            raise ConfigError(f"{where}, outside -o {keep.root} (a folder there links elsewhere); choose another -o")
        other = keep.input_at(destination)
        if other is not None:
            raise ConfigError(f"{where}, which is the input {other}; {keep.fix(other.absolute())}")
        folder = keep.folder_holding(destination.parent)
        if folder is not None:
            raise ConfigError(f"{where}, inside the input folder {folder}; {keep.fix(destination.parent)}")
        if destination.is_dir():
            raise ConfigError(f"{where}, which is a folder; move it away or choose another -o")
        clash = next((p for p in destination.parents if p in planned), None)
        if clash is not None:
            raise ConfigError(
                f"{where}, inside {clash}, which is picked as a file too; pick these inputs into separate -o folders"
            )
        existing = next(p for p in (destination.parent, *destination.parent.parents) if os.path.lexists(p))
        if not existing.is_dir():
            raise ConfigError(f"{where}, but {existing} is a file, not a folder; choose another -o")


def _name_fits(destination: Path) -> None:
    """Refuse a picked file's name the file system cannot hold (``-2`` added to a name already at
    the limit); that file fails alone.

    Raises:
        InputError: the name is too long.
    """
    from .files import name_bytes, name_max

    size, limit = name_bytes(destination.name), name_max(destination.parent)
    if size > limit:
        raise InputError(
            f"{destination}: the name would be {size} bytes, over the file system's limit of {limit} "
            "(another picked file of this group has the same name); rename one of them"
        )


def _pick_failed(record: dict[str, Any], pick: dict[str, Any], message: str, emit: EventSink) -> None:
    """Mark a picked file that could not be placed as failed (its record is final: said at once);
    the pick goes on."""
    pick["picked"] = False
    pick.pop("copied_to", None)
    record.update(status="failed", error=message)
    emit(FileFinished(record))


def _place(source: Path, destination: Path, link: bool) -> None:
    """Copy or symlink ``source`` to ``destination`` atomically: a file or link an earlier pick
    left there is swapped for the new one in one rename (never written through).

    Raises:
        OSError: the copy or link failed (disk full...).
    """
    from .files import atomic_output, atomic_symlink

    if link:
        atomic_symlink(source.resolve(), destination)
        return
    with atomic_output(destination) as temporary:  # os.replace swaps a link, not its target
        shutil.copyfile(source, temporary)


def pick_best(
    inputs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    ranking: Ranking,
    top: int = 1,
    group_by: GroupBy = "folder",
    pattern: str | None = None,
    link: bool = False,
    device: str = "auto",
    reports: bool = True,
    on_event: EventSink | None = None,
) -> dict[str, Any]:
    """Rank every group's candidates, copy or link the best ``top`` into ``out_dir/<group>/``,
    write the reports into ``out_dir`` (with ``reports``), and return a manifest-shaped dict
    (``kind: "pick"``; the report paths under ``"reports"``).

    In order: the options are checked, ``out_dir`` is taken (held for the whole call: one writer
    per folder, :func:`enhance.files.lock_folder`), every candidate is scored, every destination
    is planned and the whole plan checked; only then is anything copied or linked.

    ``on_event`` receives :class:`~enhance.events.FilesPlanned` once the candidates are found,
    and one :class:`~enhance.events.FileFinished` per candidate once its record is final: a
    failure at once, the others when everything is placed (see :mod:`enhance.events`); a report
    that cannot be written is an error :class:`~enhance.events.Notice`.

    Raises:
        ConfigError: bad options, missing inputs, no images found, an ``out_dir`` that cannot be
            written or that another enhance command is writing into (before any image is read),
            or a plan that would write onto an input or into an input folder (before any file is
            copied).
    """
    from .devices import resolve_device
    from .files import lock_folder

    # 1. the options
    if top < 1:
        raise ConfigError(f"--top must be 1 or more, got {top}")
    _group_regex(group_by, pattern)
    for name, weight in ranking.weights.items():
        check_weight(f"{name}={weight}", weight)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {out_dir}: exists and is not a folder; choose another -o")
    target = resolve_device(device)
    emit = emitter(on_event)
    with lock_folder(out_dir, "enhance pick"):
        manifest = _pick_locked(inputs, out_dir, ranking, top, group_by, pattern, link, target, emit)
        if reports:
            from .report import record_reports

            problem = record_reports(manifest, out_dir)
            if problem is not None:
                emit(Notice("error", problem))
    return manifest


def _pick_locked(
    inputs: Sequence[Path | str],
    out_dir: Path,
    ranking: Ranking,
    top: int,
    group_by: GroupBy,
    pattern: str | None,
    link: bool,
    target: Any,
    emit: EventSink,
) -> dict[str, Any]:
    """:func:`pick_best` from step 2, once ``out_dir`` is held."""
    import torch

    from .discovery import discover
    from .files import remove_stale_temps
    from .io import read
    from .metrics.registry import compute

    root = out_dir.resolve()
    remove_stale_temps(out_dir)

    # 2. every candidate, scored
    found = discover(inputs, recursive=True, exclude=out_dir)
    if not found:
        raise ConfigError(f"no images found in {', '.join(map(str, inputs))}")
    groups, unmatched = group_candidates(found, group_by, pattern)
    emit(FilesPlanned(len(found)))
    started = now()
    records: list[dict[str, Any]] = []
    for path, relative in unmatched:
        records.append(new_record(path, relative, "skipped", warnings=[f"name does not match --pattern {pattern!r}"]))
    ranked = []
    for group, members in groups.items():
        group_records = []
        values: list[dict[str, float | None]] = []
        for path, relative in members:
            record = new_record(path, relative)
            try:
                with torch.no_grad():
                    image = read(path, target)
                    scored = compute(ranking.metrics, image)
                finite = {n: v if math.isfinite(v) else None for n, v in scored.items()}  # inf ranks nothing
                record["size"]["input"] = list(image.size)
                record["results"]["scores"] = {
                    n: {"before": None, "after": v, "delta": None} for n, v in finite.items()
                }
                values.append(finite)
            except (EnhanceError, ValueError) as exc:
                record.update(status="failed", error=failure_message(exc, path, relative))
                emit(FileFinished(record))
                values.append({})
            group_records.append(record)
        ranked.append((group, members, group_records, rank_scores(values, ranking)))

    # 3. every destination, planned
    plan: list[tuple[Path, Path]] = []
    placed: set[Path] = set()
    entries: dict[Path, tuple[dict[str, Any], dict[str, Any]]] = {}  # destination -> record, pick
    for group, members, group_records, scores in ranked:
        order = sorted(
            (i for i, s in enumerate(scores) if s is not None), key=lambda i: (-scores[i], members[i][1].as_posix())
        )
        folder = "/".join(_safe_name(part) for part in group.split("/"))
        for rank, index in enumerate(order, start=1):
            record = group_records[index]
            pick: dict[str, Any] = {"group": group, "rank": rank, "score": scores[index], "picked": rank <= top}
            record["results"]["pick"] = pick
            if rank <= top:
                path = members[index][0]
                destination = _destination(root, folder, path, placed)
                placed.add(destination)
                try:
                    _name_fits(destination)
                except InputError as exc:
                    _pick_failed(record, pick, f"{path}: not {'linked' if link else 'copied'}: {exc}", emit)
                else:
                    plan.append((path, destination))
                    pick["copied_to"] = str(destination)
                    entries[destination] = (record, pick)
        for index, record in enumerate(group_records):
            if scores[index] is None and record["status"] == "done":
                record["warnings"].append("not ranked: a ranking metric could not be computed")
        records.extend(group_records)

    # 4. the whole plan, checked; 5. only then copied or linked
    _check_plan(plan, _Inputs(inputs, found, root))
    for path, destination in plan:
        try:
            _place(path, destination, link)
        except OSError as exc:  # this file only: the others are still placed
            how = "linked" if link else "copied"
            _pick_failed(
                *entries[destination], f"{path}: cannot be {how} to {destination} ({exc.strerror or exc})", emit
            )
    for record in records:  # the failed ones were said as they failed
        if record["status"] != "failed":
            emit(FileFinished(record))

    return build_manifest(
        "pick",
        records,
        started=started,
        device=str(target),
        ranking=ranking.describe(),
        top=top,
        mode="link" if link else "copy",
    )
