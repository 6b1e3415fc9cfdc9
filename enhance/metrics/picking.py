"""Best-of-N: rank candidate images of the same prompt and keep the best (``enhance pick``).

Candidates are grouped by folder (one folder per prompt) or by a regular expression on the file
name (its first capture group, or the whole match, is the group). Each group is ranked by one
metric in its own direction, or by a weighted sum of several metrics: each metric is first
standardised within the group (z-score), so weights compare like with like whatever the metric's
scale; a negative weight rewards lower values (``sharpness=1,banding=-1``). A metric whose spread
within a group is below its registry ``resolution`` (numeric noise) counts 0 for that group. The top K of each group
are copied (atomically) or symbolically linked into the output folder, under the group's name.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, EnhanceError
from ..manifest import build_manifest, failure_message, new_record, now

__all__ = ["Ranking", "parse_weights", "ranking_for", "group_candidates", "pick_best"]

GroupBy = Literal["folder", "pattern"]


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
        ConfigError: a malformed item or a zero weight.
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
        if not name.strip() or weight != weight or weight == 0:
            raise ConfigError(f"--weights: '{item}' is not NAME=NUMBER (non-zero), e.g. sharpness=1,banding=-1")
        weights[name.strip()] = weight
    if not weights:
        raise ConfigError("--weights is empty; give e.g. sharpness=1,banding=-1")
    return weights


def ranking_for(metric: str | None = None, weights: str | Mapping[str, float] | None = None) -> Ranking:
    """The ranking from ``--metric`` or ``--weights`` (default: sharpness).

    Raises:
        ConfigError: both given, or an unknown, unavailable or full-reference metric.
    """
    from .registry import get_metric, validate_metrics

    if metric is not None and weights is not None:
        raise ConfigError("give either --metric or --weights, not both")
    if weights is not None:
        parsed = parse_weights(weights) if isinstance(weights, str) else dict(weights)
        validate_metrics(list(parsed), kind="no-reference", where="--weights")
        return Ranking(parsed, standardise=True)
    name = metric or "sharpness"
    validate_metrics([name], kind="no-reference", where="--metric")
    return Ranking({name: 1.0 if get_metric(name).higher_is_better else -1.0}, standardise=False)


def _safe_name(text: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", text).strip(" .")
    return cleaned or "group"


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
    regex = None
    if group_by == "pattern":
        if not pattern:
            raise ConfigError("--group-by pattern needs --pattern REGEX, e.g. '(.+)_seed\\d+'")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"--pattern {pattern!r} is not a valid regular expression: {exc}") from None
    elif group_by != "folder":
        raise ConfigError(f"--group-by must be folder or pattern, got {group_by!r}")
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
    """One score per candidate (higher is better); None when a metric is missing."""
    stats = _group_stats(values, ranking)
    scores: list[float | None] = []
    for v in values:
        if any(v.get(n) is None for n in ranking.metrics):
            scores.append(None)
            continue
        if not ranking.standardise:
            ((name, sign),) = ranking.weights.items()
            scores.append(sign * float(v[name]))  # type: ignore[arg-type]
            continue
        total = 0.0
        for name, weight in ranking.weights.items():
            mean, spread = stats[name]
            total += weight * ((float(v[name]) - mean) / spread if spread > 0 else 0.0)  # type: ignore[arg-type]
        scores.append(total)
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

    Raises:
        ConfigError: the place would be outside ``root`` or the source itself.
    """
    parent = (root / folder).resolve()
    destination = _unique(parent / source.name, placed)
    if not destination.is_relative_to(root) or destination in (source.resolve(), source.absolute()):
        raise ConfigError(f"{source}: picking it would write {destination}; choose another -o folder")
    return destination


def _place(source: Path, destination: Path, link: bool) -> None:
    """Copy or symlink ``source`` to ``destination`` atomically: a file or link an earlier pick
    left there is swapped for the new one in one rename (never written through)."""
    from ..io import TEMP_MARKER, atomic_output

    destination.parent.mkdir(parents=True, exist_ok=True)
    if not link:
        with atomic_output(destination) as temporary:  # os.replace swaps a link, not its target
            shutil.copyfile(source, temporary)
        return
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}{TEMP_MARKER}")
    temporary.symlink_to(source.resolve())
    try:
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Rank every group's candidates, copy or link the best ``top`` into ``out_dir/<group>/``,
    and return a manifest-shaped dict (``kind: "pick"``) for the reports.

    Raises:
        ConfigError: bad options, missing inputs, or no images found.
    """
    import torch

    from ..batch import discover
    from ..devices import resolve_device
    from ..io import read
    from .registry import compute

    if top < 1:
        raise ConfigError(f"--top must be 1 or more, got {top}")
    out_dir = Path(out_dir)
    root = out_dir.resolve()
    target = resolve_device(device)
    found = discover(inputs, recursive=True, exclude=out_dir)
    if not found:
        raise ConfigError(f"no images found in {', '.join(map(str, inputs))}")
    groups, unmatched = group_candidates(found, group_by, pattern)
    started = now()
    records: list[dict[str, Any]] = []
    placed: set[Path] = set()
    for path, relative in unmatched:
        records.append(new_record(path, relative, "skipped", warnings=[f"name does not match --pattern {pattern!r}"]))

    for group, members in groups.items():
        group_records = []
        values: list[dict[str, float | None]] = []
        for path, relative in members:
            record = new_record(path, relative)
            try:
                with torch.no_grad():
                    image = read(path, target)
                    scored = compute(ranking.metrics, image)
                record["size"]["input"] = list(image.size)
                record["results"]["scores"] = {
                    n: {"before": None, "after": v, "delta": None} for n, v in scored.items()
                }
                values.append(scored)
            except (EnhanceError, ValueError) as exc:
                record.update(status="failed", error=failure_message(exc, path, relative))
                echo(f"failed: {record['error']}")
                values.append({})
            group_records.append(record)
        scores = _rank_scores(values, ranking)
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
                _place(path, destination, link)
                pick["copied_to"] = str(destination)
            record["results"]["pick"] = pick
        for index, record in enumerate(group_records):
            if scores[index] is None and record["status"] == "done":
                record["warnings"].append("not ranked: a ranking metric could not be computed")
        records.extend(group_records)

    return build_manifest(
        "pick",
        records,
        started=started,
        device=str(target),
        ranking=ranking.describe(),
        top=top,
        mode="link" if link else "copy",
    )
