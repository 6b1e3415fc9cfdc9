"""The manifest: one record per input file plus a header, shared by ``run``, ``score`` and ``pick``.

A record::

    {"input": "/abs/in/a.png", "relative": "sub/a.png", "output": "/abs/out/sub/a.png" | None,
     "status": "done" | "skipped" | "failed", "error": None | "one line",
     "timings": {"read": s, "compute": s, "stages": {"deband": s, ...}, "write": s, "score": s},
     "size": {"input": [w, h], "output": [w, h]},
     "results": {...what stages reported, e.g. "scores"...}, "warnings": [...]}

The header names the kind of run (``run``, ``score``, ``pick``), the enhance version, device,
start and finish times and a summary of the statuses (a ``run`` manifest also its ``profile``:
where the time went and what bound the run, :func:`run_profile`); reports (:mod:`enhance.report`)
read it.
A ``run`` manifest also keeps the records of earlier runs' inputs that this run did not touch
(after this run's records): ``summary`` counts every record listed, ``this_run`` this run's only.

``manifest.json`` is written once, at the end of a run. So that no record is lost when a run is
killed (SIGKILL, the OOM killer, a power cut) before that, each finished file's record is also
appended, as it finishes, to the journal ``OUT/.enhance-journal.jsonl`` (:class:`Journal`): one
JSON line per record, synced to disk right after the file's output was renamed into place. The
next run reads the manifest and then the journal (:func:`read_earlier`; a journal line wins over
the manifest's record of the same input, a torn last line is ignored), and removes the journal
once its own manifest.json is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import first_line

__all__ = [
    "JOURNAL_NAME",
    "MANIFEST_NAME",
    "STATUSES",
    "Earlier",
    "Journal",
    "build_manifest",
    "failure_message",
    "load_earlier",
    "new_record",
    "now",
    "read_earlier",
    "read_journal",
    "read_records",
    "run_profile",
    "set_aside",
    "summarize",
    "usable_record",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
#: the append-only record log a run keeps in its output folder until manifest.json is written
JOURNAL_NAME = ".enhance-journal.jsonl"
_TAIL = 1 << 20  # how far back a torn last line is looked for


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
    message = first_line(exc)
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


#: a device busy this share of the run's wall time or more bounds the run itself
BUSY_BOUND = 0.9


def run_profile(records: Iterable[dict[str, Any]], waits: dict[str, float]) -> dict[str, Any]:
    """Where a run's time went, from its done records' timings and the runner's own clock.

    Args:
        records: this run's records (only ``done`` ones count).
        waits: from the runner: ``wall`` (the run), ``compute`` (the device thread's busy time;
            the records' compute times when absent), and the seconds the device thread waited
            for a ``decode``, an ``encode`` (the write window) and ``score`` (host scoring), and
            the ``drain`` of the last writes; a runner that cannot tell gives what it has.

    Returns:
        ``images``, ``wall``, ``images_per_second``, ``device_busy`` (compute / wall), ``waits``,
        ``totals`` and ``per_image`` (read, compute, write, score seconds summed over the files,
        and their mean), ``stages`` (each stage's summed seconds) and ``bound``: ``device`` when
        the device was busy :data:`BUSY_BOUND` of the time or more, else the host resource the
        device waited on longest (``decode``, ``encode``, ``score``), or ``overhead`` when its
        idle time was mostly none of those (start-up, the final drain).
    """
    done = [r for r in records if r.get("status") == "done"]
    totals = dict.fromkeys(("read", "compute", "write", "score"), 0.0)
    stages: dict[str, float] = {}
    for record in done:
        timings = record.get("timings") or {}
        for key in totals:
            totals[key] += float(timings.get(key) or 0.0)
        for name, seconds in (timings.get("stages") or {}).items():
            stages[name] = stages.get(name, 0.0) + float(seconds)
    wall = float(waits.get("wall") or 0.0)
    busy = float(waits.get("compute", totals["compute"]))
    host = {key: round(float(waits.get(key, 0.0)), 4) for key in ("decode", "encode", "score", "drain")}
    share = busy / wall if wall > 0 else None
    if share is not None and share >= BUSY_BOUND:
        bound = "device"
    else:
        idle = max(wall - busy, 0.0)
        worst = max(("decode", "encode", "score"), key=lambda k: host[k])
        bound = worst if host[worst] >= 0.5 * idle and host[worst] > 0 else "overhead"
    count = len(done)
    return {
        "images": count,
        "wall": round(wall, 4),
        "images_per_second": round(count / wall, 4) if wall > 0 else None,
        "device_busy": round(share, 4) if share is not None else None,
        "compute": round(busy, 4),
        "waits": host,
        "bound": bound,
        "totals": {key: round(value, 4) for key, value in totals.items()},
        "per_image": {key: round(value / count, 4) if count else None for key, value in totals.items()},
        "stages": {name: round(value, 4) for name, value in stages.items()},
    }


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
    """Write ``data`` as JSON, atomically.

    ASCII with escapes: a file name that is not valid UTF-8 (bytes kept as lone surrogates, as
    Python reads them on Linux) round-trips exactly instead of failing to encode.
    """
    from .files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=True) + "\n", encoding="ascii")


STATUSES = ("done", "skipped", "failed")
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "output": (str, type(None)),
    "error": (str, type(None)),
    "timings": (dict,),
    "size": (dict,),
    "results": (dict,),
    "warnings": (list,),
}
_DEFAULTS: dict[str, Any] = {"output": None, "error": None, "timings": {}, "size": {}, "results": {}, "warnings": []}


def usable_record(record: Any) -> dict[str, Any] | None:
    """``record`` with its optional fields filled in, or None when it cannot be used: not an
    object, ``input``/``relative`` not text, an unknown ``status``, a field of the wrong type,
    or scores that are not ``{metric: {before, after, delta}}``. A ``written`` stamp that is not
    ``{bytes, mtime_ns}`` integers is dropped (the record then vouches for no file)."""
    if not isinstance(record, dict):
        return None
    if not isinstance(record.get("input"), str) or not isinstance(record.get("relative"), str):
        return None
    if record.get("status") not in STATUSES:
        return None
    if any(key in record and not isinstance(record[key], kinds) for key, kinds in _OPTIONAL.items()):
        return None
    if not all(isinstance(w, str) for w in record.get("warnings", [])):
        return None
    results = record.get("results", {})
    scores = results.get("scores", {})
    if not isinstance(scores, dict) or not all(
        isinstance(entry, dict) and all(_number_or_none(entry.get(k)) for k in ("before", "after", "delta"))
        for entry in scores.values()
    ):
        return None
    if "pick" in results and not isinstance(results["pick"], dict):
        return None
    usable = {**_DEFAULTS, **record}
    written = usable.get("written")
    if written is not None and not (
        isinstance(written, dict) and all(type(written.get(k)) is int for k in ("bytes", "mtime_ns"))
    ):
        del usable["written"]
    return usable


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


@dataclass
class Earlier:
    """What earlier runs left in an output folder: records by input path, one-line warnings
    about what could not be used, and whether manifest.json is unusable as a whole (it is then
    moved aside by :func:`set_aside` before a new one replaces it)."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    broken: Path | None = None


def load_earlier(out_dir: Path) -> Earlier:
    """Read ``out_dir``'s manifest, then the journal a killed run left (its lines win). Nothing
    here raises: what cannot be used is left out and said in ``warnings`` (one line per file)."""
    earlier = Earlier()
    path = out_dir / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raw = None
        earlier.warnings.append(f"{path}: cannot be read ({exc.strerror or exc}); its records are not used")
    if raw is not None:
        try:
            data = json.loads(raw)
        except ValueError as exc:  # not UTF-8, or not JSON
            earlier.broken = path
            earlier.warnings.append(f"{path}: not valid JSON ({first_line(exc, limit=200)}); its records are not used")
        else:
            files = data.get("files") if isinstance(data, dict) else None
            if not isinstance(files, list):
                earlier.broken = path
                earlier.warnings.append(f"{path}: not an enhance manifest (no list of files); its records are not used")
            else:
                _add(earlier, path, files)
    journal = out_dir / JOURNAL_NAME
    _add(earlier, journal, read_journal(journal))
    return earlier


def _add(earlier: Earlier, source: Path, records: list[Any]) -> None:
    bad = 0
    for record in records:
        usable = usable_record(record)
        if usable is None:
            bad += 1
        else:
            earlier.records[usable["input"]] = usable
    if bad:
        earlier.warnings.append(f"{source}: {bad} record(s) with missing or wrong-typed fields ignored")


def set_aside(path: Path) -> Path:
    """Move an unusable manifest out of the way (``manifest.json.broken-<UTC time>``), never
    deleting it: its content may still matter to someone. Returns the new name.

    Raises:
        OSError: it cannot be renamed.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        target = path.with_name(f"{path.name}.broken-{stamp}" + (f"-{n}" if n > 1 else ""))
        if not os.path.lexists(target):
            os.rename(path, target)
            return target
    raise FileExistsError(f"{path}: too many set-aside copies beside it")


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Usable records of a manifest by input path; empty when there is none or it is unreadable."""
    earlier = Earlier()
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if isinstance(files, list):
        _add(earlier, path, files)
    return earlier.records


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records a journal holds, oldest first; lines that do not parse (the torn last line of a
    killed run) are ignored. Empty when there is no journal."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    records = []
    for line in data.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def read_earlier(out_dir: Path) -> dict[str, dict[str, Any]]:
    """What earlier runs recorded in ``out_dir``, by input path: the manifest's usable records,
    then those of a journal a killed run left (newer: they win). See :func:`load_earlier`."""
    return load_earlier(out_dir).records


class Journal:
    """The run's append-only record log (see the module docs); safe to append from threads.

    An append that fails (disk full, the folder became read-only) does not stop the run: the
    records stay in memory for manifest.json, ``error`` says what went wrong and ``on_error`` is
    told once.
    """

    def __init__(self, path: Path, on_error: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.error: str | None = None
        self._on_error = on_error
        self._fd: int | None = None
        self._lock = threading.Lock()

    def open(self) -> Journal:
        """Open for appending; a torn last line a killed run left is cut first, so the next line
        does not run into it."""
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o666)
            size = os.fstat(self._fd).st_size
            start = max(0, size - _TAIL)
            tail = os.pread(self._fd, size - start, start)
            if tail and not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                if cut >= 0 or start == 0:
                    os.ftruncate(self._fd, start + cut + 1)
                else:  # a torn line longer than we look back: end it (reading skips it)
                    os.write(self._fd, b"\n")
        except OSError as exc:
            self._failed(exc)
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as one line and sync it to disk."""
        line = (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        with self._lock:
            if self._fd is None:
                return
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.error is None:
            self.error = (
                f"{self.path}: cannot append to the journal ({exc.strerror or exc}); this run's records are kept "
                "in memory until manifest.json is written"
            )
            if self._on_error is not None:
                self._on_error(self.error)

    def close(self) -> None:
        """Stop appending; the journal stays (a later run reads it)."""
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None

    def remove(self) -> None:
        """Close and delete the journal: its records are in manifest.json now."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
