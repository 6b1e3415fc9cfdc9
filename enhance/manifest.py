"""The manifest: one record per input file plus a header, shared by ``run``, ``score`` and ``pick``.

A record::

    {"input": "/abs/in/a.png", "relative": "sub/a.png", "output": "/abs/out/sub/a.png" | None,
     "status": "done" | "skipped" | "failed", "error": None | "one line",
     "timings": {"read": s, "compute": s, "write": s}, "size": {"input": [w, h], "output": [w, h]},
     "results": {...what stages reported, e.g. "scores"...}, "warnings": [...]}

The header names the kind of run (``run``, ``score``, ``pick``), the enhance version, device,
start and finish times and a summary of the statuses; reports (:mod:`enhance.report`) read it.
A ``run`` manifest also keeps the records of earlier runs' inputs that this run did not touch
(after this run's records): ``summary`` counts every record listed, ``this_run`` this run's only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_NAME",
    "build_manifest",
    "failure_message",
    "new_record",
    "now",
    "read_records",
    "summarize",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"


def now() -> str:
    """The current UTC time as an ISO-8601 string (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_record(
    source: Path, relative: Path, status: str = "done", *, output: Path | None = None, **extra: Any
) -> dict[str, Any]:
    """A fresh record for one input; ``extra`` fills or replaces fields."""
    return {
        "input": str(source.resolve()),
        "relative": relative.as_posix(),
        "output": None if output is None else str(output),
        "status": status,
        "error": None,
        "timings": {},
        "size": {},
        "results": {},
        "warnings": [],
        **extra,
    }


def failure_message(exc: BaseException, source: Path, relative: Path | None = None) -> str:
    """The first line of an error, prefixed with the file unless the message already names it."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    if str(source) in message or (relative is not None and relative.as_posix() in message):
        return message
    return f"{source}: {message}"


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts by status: total, done, skipped, failed."""
    counts = {"total": 0, "done": 0, "skipped": 0, "failed": 0}
    for record in records:
        counts["total"] += 1
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def build_manifest(kind: str, records: list[dict[str, Any]], *, started: str, **header: Any) -> dict[str, Any]:
    """The whole manifest: header fields, the summary and the records."""
    from ._version import __version__

    return {
        "kind": kind,
        "title": f"enhance {kind} report",
        "enhance_version": __version__,
        "pipeline": None,
        **header,
        "started": started,
        "finished": now(),
        "summary": summarize(records),
        "files": records,
    }


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON, atomically."""
    from .files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records of an earlier manifest by input path; empty when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {r["input"]: r for r in data.get("files", []) if isinstance(r, dict) and "input" in r}
    except (OSError, ValueError, AttributeError):
        return {}
