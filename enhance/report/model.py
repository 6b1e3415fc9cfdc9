"""The report's content, built once from a manifest and rendered by the JSON, CSV and HTML writers.

A manifest is what ``enhance run`` writes (see the batch runner) or what ``enhance score`` and
``enhance pick`` assemble in the same shape: ``{"files": [record, ...], ...}`` where each record
may carry ``results["scores"] = {metric: {"before", "after", "delta"}}`` and, from ``pick``,
``results["pick"] = {"group", "rank", "score", "picked", "copied_to"}``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["build_report", "displayable", "metric_info", "improvement"]

_LABELS = {
    "run": {"before": "before", "after": "after"},
    "score": {"before": "reference", "after": "image"},
    "pick": {"before": "before", "after": "value"},
}

# deltas smaller than this (relative to the larger magnitude) count as unchanged
_UNCHANGED = 1e-9


def displayable(text: str) -> str:
    """``text`` as the CSV and HTML reports show it: a file name's bytes that are not UTF-8 (kept
    by Python as lone surrogates) are written as ``\\xff`` escapes instead of failing to encode."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (from JSON, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def metric_info(name: str) -> dict[str, Any]:
    """Name, direction, kind, unit and description of a metric (registry facts, or neutral ones)."""
    from ..errors import ConfigError
    from ..metrics.registry import get_metric

    try:
        m = get_metric(name)
    except ConfigError:
        return {"name": name, "kind": "unknown", "higher_is_better": True, "unit": "", "description": ""}
    return {
        "name": m.name,
        "kind": m.kind,
        "higher_is_better": m.higher_is_better,
        "unit": m.unit,
        "description": m.description,
    }


def improvement(delta: float | None, higher_is_better: bool, scale: float = 1.0) -> int:
    """+1 when ``delta`` is an improvement in the metric's direction, -1 when worse, 0 otherwise."""
    if delta is None or abs(delta) <= _UNCHANGED * max(1.0, abs(scale)):
        return 0
    better = delta > 0 if higher_is_better else delta < 0
    return 1 if better else -1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scores(record: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    raw = (record.get("results") or {}).get("scores") or {}
    scores = {}
    for name, entry in raw.items():
        entry = entry if isinstance(entry, Mapping) else {"after": entry}
        before, after = _number(entry.get("before")), _number(entry.get("after"))
        delta = _number(entry.get("delta"))
        if delta is None and before is not None and after is not None:
            delta = after - before
        scores[str(name)] = {"before": before, "after": after, "delta": delta}
    return scores


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _summary(rows: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> dict[str, Any]:
    per_metric = {}
    for info in metrics:
        name = info["name"]
        entries = [r["scores"][name] for r in rows if name in r["scores"]]
        befores = [e["before"] for e in entries if e["before"] is not None]
        afters = [e["after"] for e in entries if e["after"] is not None]
        deltas = [e["delta"] for e in entries if e["delta"] is not None]
        verdicts = [improvement(e["delta"], info["higher_is_better"], e["after"] or 0.0) for e in entries]
        per_metric[name] = {
            "count": len(entries),
            "before_mean": _mean(befores),
            "after_mean": _mean(afters),
            "after_min": min(afters) if afters else None,
            "after_max": max(afters) if afters else None,
            "delta_mean": _mean(deltas),
            "delta_median": statistics.median(deltas) if deltas else None,
            "improved": verdicts.count(1),
            "worse": verdicts.count(-1),
            "unchanged": verdicts.count(0) if deltas else 0,
        }
    return per_metric


def _ranking(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["pick"] is not None:
            groups.setdefault(str(row["pick"].get("group", "")), []).append(row)
    ranking = []
    for group, members in groups.items():
        members.sort(key=lambda r: (r["pick"].get("rank") is None, r["pick"].get("rank") or 0))
        ranking.append(
            {
                "group": group,
                "candidates": [
                    {
                        "relative": r["relative"],
                        "rank": r["pick"].get("rank"),
                        "score": _number(r["pick"].get("score")),
                        "picked": bool(r["pick"].get("picked")),
                        "copied_to": r["pick"].get("copied_to"),
                    }
                    for r in members
                ],
            }
        )
    return ranking


def build_report(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the reports show: metric facts, one row per file, batch summary, pick ranking."""
    from .._version import __version__

    records = [r for r in manifest.get("files", []) if isinstance(r, Mapping)]
    rows = []
    names: list[str] = []
    for record in records:
        scores = _scores(record)
        names += [n for n in scores if n not in names]
        results = record.get("results") or {}
        rows.append(
            {
                "relative": str(record.get("relative") or record.get("input") or ""),
                "input": record.get("input"),
                "output": record.get("output"),
                "reference": record.get("reference"),
                "status": record.get("status", "done"),
                "error": record.get("error"),
                "size": record.get("size") or {},
                "scores": scores,
                "scores_at": results.get("scores_at"),
                "pick": results.get("pick") if isinstance(results.get("pick"), Mapping) else None,
                "warnings": list(record.get("warnings") or []),
                "timings": record.get("timings") if isinstance(record.get("timings"), Mapping) else {},
                "credentials": _credentials(record.get("content_credentials")),
            }
        )
    metrics = [metric_info(n) for n in names]
    kind = str(manifest.get("kind", "run"))
    statuses = [r["status"] for r in rows]
    return {
        "kind": kind,
        "title": manifest.get("title") or f"enhance {kind} report",
        # what "before" and "after" mean for this kind of report, for column headings
        "labels": _LABELS.get(kind, _LABELS["run"]),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "enhance_version": manifest.get("enhance_version", __version__),
        "pipeline": manifest.get("pipeline"),
        "device": manifest.get("device"),
        "counts": {
            "total": len(rows),
            "done": statuses.count("done"),
            "skipped": statuses.count("skipped"),
            "failed": statuses.count("failed"),
            "scored": sum(1 for r in rows if r["scores"]),
        },
        "metrics": metrics,
        "summary": _summary(rows, metrics),
        # where a run's time went (per stage, device busy, what bound it), when its manifest says
        "profile": manifest.get("profile") if isinstance(manifest.get("profile"), Mapping) else None,
        "files": rows,
        "ranking": _ranking(rows),
        "ranked_by": manifest.get("ranking") if isinstance(manifest.get("ranking"), str) else None,
        # whether any file has content credentials to show (the reports add their columns then)
        "credentials": any(r["credentials"] for r in rows),
    }


def _credentials(record: Any) -> dict[str, str | None] | None:
    """A record's content credentials as two texts (source, output); None when it has none."""
    if record is None:
        return None
    from ..credentials.signing import describe_record

    return describe_record(record)
