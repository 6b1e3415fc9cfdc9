"""Best-of-N: rank candidate images of the same prompt and keep the best (``enhance pick``).

Candidates are grouped by folder (one folder per prompt) or by a regular expression on the file
name (its first capture group, or the whole match, is the group). Each group is ranked by one
metric in its own direction, or by a weighted sum of several metrics: each metric is first
standardised within the group (z-score), so weights compare like with like whatever the metric's
scale; a negative weight rewards lower values (``sharpness=1,banding=-1``). A metric whose spread
within a group is below its registry ``resolution`` (numeric noise) counts 0 for that group. The top K of each group
are copied (atomically) or symbolically linked into the output folder, under the group's name.

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
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, EnhanceError, InputError
from ..manifest import build_manifest, failure_message, new_record, now

__all__ = ["Ranking", "parse_weights", "ranking_for", "group_candidates", "pick_best"]

GroupBy = Literal["folder", "pattern"]

#: the largest weight accepted: weights are relative, and a bound keeps every weighted sum of
#: z-scores finite (a z-score within a group of n is at most sqrt(n - 1))
MAX_WEIGHT = 1e6


@dataclass(frozen=True)
class Ranking:
    """How candidates are ordered: metric name → signed weight (one metric: its direction)."""

    weights: dict[str, float]
    standardise: bool

    @property
    def metrics(self) -> list[str]:
        return list(self.weights)

    def describe(self) -> str:
        if not self.standardise:
            ((name, weight),) = self.weights.items()
            return f"{name} ({'higher' if weight > 0 else 'lower'} is better)"
        return "weighted z-scores: " + ", ".join(f"{n}={w:g}" for n, w in self.weights.items())


def parse_weights(text: str) -> dict[str, float]:
    """``"sharpness=1,banding=-1"`` → ``{"sharpness": 1.0, "banding": -1.0}``.

    Raises:
        ConfigError: a malformed item, or a weight that is zero, not finite or too large.
    """
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not name.strip():
            weight = float("nan")
        weights[name.strip()] = _check_weight(item, weight)
    if not weights:
        raise ConfigError("--weights is empty; give e.g. sharpness=1,banding=-1")
    return weights


def _check_weight(item: str, weight: float) -> float:
    """``weight`` when it is a usable weight (finite, non-zero, at most :data:`MAX_WEIGHT` in size).

    Raises:
        ConfigError: naming ``item`` (the ``NAME=NUMBER`` text) and what to give instead.
    """
    if not math.isfinite(weight) or weight == 0:
        raise ConfigError(f"--weights: '{item}' is not NAME=NUMBER (finite, non-zero), e.g. sharpness=1,banding=-1")
    if abs(weight) > MAX_WEIGHT:
        raise ConfigError(
            f"--weights: '{item}' is too large: weights are relative (sharpness=2,banding=-1 ranks like "
            f"sharpness=2000,banding=-1000); keep each within ±{MAX_WEIGHT:g}"
        )
    return weight


def ranking_for(metric: str | None = None, weights: str | Mapping[str, float] | None = None) -> Ranking:
    """The ranking from ``--metric`` or ``--weights`` (default: sharpness).

    Raises:
        ConfigError: both given, or an unknown, unavailable or full-reference metric.
    """
    from .registry import get_metric, validate_metrics

    if metric is not None and weights is not None:
        raise ConfigError("give either --metric or --weights, not both")
    if weights is not None:
        if isinstance(weights, str):
            parsed = parse_weights(weights)
        else:
            parsed = {name: _check_weight(f"{name}={weight}", float(weight)) for name, weight in weights.items()}
        validate_metrics(list(parsed), kind="no-reference", where="--weights")
        return Ranking(parsed, standardise=True)
    name = metric or "sharpness"
    validate_metrics([name], kind="no-reference", where="--metric")
    return Ranking({name: 1.0 if get_metric(name).higher_is_better else -1.0}, standardise=False)


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


def _group_stats(values: list[dict[str, float | None]], ranking: Ranking) -> dict[str, tuple[float, float]]:
    """Each metric's mean and spread within the group; the spread is 0 when it is below the
    metric's ``resolution`` (numeric noise such as banding 0 vs 1e-4), so that metric does not
    count for this group instead of turning noise into a full z-score."""
    from .registry import get_metric

    stats = {}
    for name in ranking.metrics:
        column = [v[name] for v in values if v.get(name) is not None]
        mean = statistics.fmean(column) if column else 0.0
        spread = statistics.pstdev(column) if len(column) > 1 else 0.0
        stats[name] = (mean, spread if spread >= get_metric(name).resolution else 0.0)
    return stats


def _rank_scores(values: list[dict[str, float | None]], ranking: Ranking) -> list[float | None]:
    """One score per candidate (higher is better); None when a metric is missing or the score is
    not finite (a metric that returned inf), so such a candidate is left unranked rather than
    poisoning its group's ranking and the report."""
    stats = _group_stats(values, ranking)
    scores: list[float | None] = []
    for v in values:
        if any(v.get(n) is None for n in ranking.metrics):
            scores.append(None)
            continue
        if not ranking.standardise:
            ((name, sign),) = ranking.weights.items()
            value = sign * float(v[name])  # type: ignore[arg-type]
            scores.append(value if math.isfinite(value) else None)
            continue
        total = 0.0
        for name, weight in ranking.weights.items():
            mean, spread = stats[name]
            total += weight * ((float(v[name]) - mean) / spread if spread > 0 else 0.0)  # type: ignore[arg-type]
        scores.append(total if math.isfinite(total) else None)
    return scores


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
    from ..files import name_bytes, name_max

    size, limit = name_bytes(destination.name), name_max(destination.parent)
    if size > limit:
        raise InputError(
            f"{destination}: the name would be {size} bytes, over the file system's limit of {limit} "
            "(another picked file of this group has the same name); rename one of them"
        )


def _pick_failed(record: dict[str, Any], pick: dict[str, Any], message: str, echo: Callable[[str], None]) -> None:
    """Mark a picked file that could not be placed as failed (one line); the pick goes on."""
    pick["picked"] = False
    pick.pop("copied_to", None)
    record.update(status="failed", error=message)
    echo(f"failed: {message}")


def _place(source: Path, destination: Path, link: bool) -> None:
    """Copy or symlink ``source`` to ``destination`` atomically: a file or link an earlier pick
    left there is swapped for the new one in one rename (never written through).

    Raises:
        OSError: the copy or link failed (disk full...).
    """
    from ..files import atomic_output, atomic_symlink

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
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Rank every group's candidates, copy or link the best ``top`` into ``out_dir/<group>/``,
    write the reports into ``out_dir`` (with ``reports``), and return a manifest-shaped dict
    (``kind: "pick"``; the report paths under ``"reports"``).

    In order: the options are checked, ``out_dir`` is taken (held for the whole call: one writer
    per folder, :func:`enhance.files.lock_folder`), every candidate is scored, every destination
    is planned and the whole plan checked; only then is anything copied or linked.

    Raises:
        ConfigError: bad options, missing inputs, no images found, an ``out_dir`` that cannot be
            written or that another enhance command is writing into (before any image is read),
            or a plan that would write onto an input or into an input folder (before any file is
            copied).
    """
    from ..devices import resolve_device
    from ..files import lock_folder

    # 1. the options
    if top < 1:
        raise ConfigError(f"--top must be 1 or more, got {top}")
    _group_regex(group_by, pattern)
    for name, weight in ranking.weights.items():
        _check_weight(f"{name}={weight}", weight)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {out_dir}: exists and is not a folder; choose another -o")
    target = resolve_device(device)
    with lock_folder(out_dir, "enhance pick"):
        manifest = _pick_locked(inputs, out_dir, ranking, top, group_by, pattern, link, target, echo)
        if reports:
            from ..report import record_reports

            record_reports(manifest, out_dir, echo)
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
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """:func:`pick_best` from step 2, once ``out_dir`` is held."""
    import torch

    from ..batch import discover
    from ..files import remove_stale_temps
    from ..io import read
    from .registry import compute

    root = out_dir.resolve()
    remove_stale_temps(out_dir)

    # 2. every candidate, scored
    found = discover(inputs, recursive=True, exclude=out_dir)
    if not found:
        raise ConfigError(f"no images found in {', '.join(map(str, inputs))}")
    groups, unmatched = group_candidates(found, group_by, pattern)
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
                echo(f"failed: {record['error']}")
                values.append({})
            group_records.append(record)
        ranked.append((group, members, group_records, _rank_scores(values, ranking)))

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
            if rank <= top:
                path = members[index][0]
                destination = _destination(root, folder, path, placed)
                placed.add(destination)
                try:
                    _name_fits(destination)
                except InputError as exc:
                    _pick_failed(record, pick, f"{path}: not {'linked' if link else 'copied'}: {exc}", echo)
                else:
                    plan.append((path, destination))
                    pick["copied_to"] = str(destination)
                    entries[destination] = (record, pick)
            record["results"]["pick"] = pick
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
                *entries[destination], f"{path}: cannot be {how} to {destination} ({exc.strerror or exc})", echo
            )

    return build_manifest(
        "pick",
        records,
        started=started,
        device=str(target),
        ranking=ranking.describe(),
        top=top,
        mode="link" if link else "copy",
    )
