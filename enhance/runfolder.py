"""A run's output folder, from the moment it is taken to the moment manifest.json is written.

Every runner (the local one in :mod:`enhance.batch`, a distributed one) works through one
:class:`RunFolder`, so what the folder holds afterwards does not depend on who scheduled the work:

1. **open**: the folder is created and held (:func:`enhance.files.lock_folder`: one writer per
   folder, a clear usage error when it cannot be written), and what earlier runs left is read
   once: manifest.json, then a killed run's journal (:func:`enhance.manifest.load_earlier`);
2. **plan**: the inputs become jobs (:func:`enhance.discovery.collect_jobs`, with those earlier
   records);
3. **start**: stale temp files are removed, what of the earlier records could not be used is
   said (an unusable manifest.json moved aside, never deleted), the planned jobs split into
   skipped ones (an earlier run recorded making that output from that input: their earlier
   results are kept) and jobs to do, and the journal is opened;
4. **add**: each finished file's record is journalled at once (synced: a kill loses no record)
   and reported (:class:`~enhance.events.FileFinished`); safe from any thread;
5. **finish**: the records, in plan order, merged with the earlier records of inputs this run did
   not touch, go to manifest.json, the reports are written when the run scored, the journal is
   removed once manifest.json is written (kept when it cannot be: a rerun recovers every
   record), and the folder is let go.

Used as a context manager, step 5 runs on every way out of the block (success, a failure,
Ctrl-C), the same way; an interrupted run's manifest says so.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .discovery import Job, collect_jobs
from .events import EventSink, FileFinished, FilesPlanned, Notice, emitter
from .manifest import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    Earlier,
    Journal,
    build_manifest,
    load_earlier,
    new_record,
    now,
    run_profile,
    set_aside,
    summarize,
    write_manifest,
)

if TYPE_CHECKING:
    from .config import OutputSpec
    from .files import FolderLock

__all__ = ["BatchResult", "RunFolder", "merge_records"]


@dataclass
class BatchResult:
    """Outcome of a run: this run's per-file records (manifest order) and counts."""

    records: list[dict[str, Any]] = field(default_factory=list)
    manifest_path: Path | None = None
    interrupted: bool = False
    #: one line per file of the run's own (manifest.json, a report) that could not be written
    unwritten: list[str] = field(default_factory=list)
    #: where this run's time went and what bound it (:func:`enhance.manifest.run_profile`)
    profile: dict[str, Any] | None = None

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


class RunFolder:
    """One run's output folder, held from :meth:`open` to :meth:`finish` (see the module docs).

    Args:
        path: the ``-o`` folder (created if needed).
        command: what holds it, written into the lock file for people (``enhance run``).
        on_event: where the folder's events go: the planned count, each file's record, warnings
            about earlier records and the journal, a manifest or report that cannot be written.
    """

    def __init__(self, path: Path | str, command: str = "enhance run", *, on_event: EventSink | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.emit = emitter(on_event)
        self.earlier = Earlier()
        self.result = BatchResult(manifest_path=self.path / MANIFEST_NAME)
        self._held: FolderLock | None = None
        self._journal: Journal | None = None
        self._header: dict[str, Any] = {}
        self._started = ""
        self._order: dict[str, int] = {}
        self._unrecorded: set[Path] = set()
        self._records_lock = threading.Lock()

    # -- 1. open -------------------------------------------------------------------------------

    def open(self) -> RunFolder:
        """Take the folder (its first write, before any image is read) and read what earlier
        runs left in it, once.

        Raises:
            ConfigError: it cannot be created or written, or another enhance command holds it.
        """
        from .files import lock_folder

        self._held = lock_folder(self.path, self.command)
        self.earlier = load_earlier(self.path)  # a killed run's journal included
        return self

    def __enter__(self) -> RunFolder:
        return self.open() if self._held is None else self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._journal is not None:
                self.finish(interrupted=kind is not None and issubclass(kind, KeyboardInterrupt))
        finally:
            self.close()

    # -- 2. plan -------------------------------------------------------------------------------

    def plan(
        self, inputs: Sequence[Path | str], output: OutputSpec, *, recursive: bool = False, pattern: str | None = None
    ) -> list[Job]:
        """The jobs for ``inputs`` (see :func:`enhance.discovery.collect_jobs`), leaving out the
        outputs earlier runs wrote here.

        Raises:
            ConfigError: bad usage; nothing was written but the lock, which :meth:`close` removes.
        """
        return collect_jobs(
            inputs,
            self.path,
            output,
            recursive=recursive,
            pattern=pattern,
            earlier=self.earlier.records,
            on_event=self.emit,
        )

    # -- 3. start ------------------------------------------------------------------------------

    def start(self, planned: Sequence[Job], *, overwrite: bool = False, **header: Any) -> list[Job]:
        """Begin writing into the folder; returns the jobs to do, in plan order.

        A planned job whose output exists is skipped (its record keeps the earlier results) when
        an earlier run recorded making that output from this input, unless ``overwrite``; an
        output without such a record (a write a kill cut off before its record, a file put
        there) is redone, so every finished input ends up with its record.

        Args:
            header: fields for manifest.json's header (``pipeline``, ``config``, ``device``...).
        """
        from .files import remove_stale_temps

        remove_stale_temps(self.path)
        self._report_earlier()
        self._header = header
        self._started = now()
        self._order = {str(job.source.resolve()): i for i, job in enumerate(planned)}
        skipped: list[dict[str, Any]] = []
        todo: list[Job] = []
        for job in planned:
            earlier = self.earlier.records.get(str(job.source.resolve()), {})
            if not overwrite and job.destination.exists():
                if _made_by(earlier, job):
                    skipped.append(_skipped(job, earlier))
                    continue
                self._unrecorded.add(job.destination)
            todo.append(job)
        self._journal = Journal(
            self.path / JOURNAL_NAME, on_error=lambda line: self.emit(Notice("warning", line))
        ).open()
        self.emit(FilesPlanned(len(todo), len(skipped)))
        for record in skipped:
            with self._records_lock:
                self.result.records.append(record)
            self.emit(FileFinished(record))
        return todo

    def replaces_unrecorded(self, job: Job) -> bool:
        """Whether ``job``'s output path holds a file that no earlier run recorded writing (its
        record then says it was replaced)."""
        return job.destination in self._unrecorded

    def _report_earlier(self) -> None:
        """Say (one warning each) what of the earlier runs' records could not be used, moving an
        unusable manifest.json aside first: it is never deleted, nor silently replaced."""
        earlier = self.earlier
        moved = ""
        if earlier.broken is not None:
            try:
                moved = f"; moved aside to {set_aside(earlier.broken)}"
            except OSError as exc:
                moved = f"; it could not be moved aside ({exc.strerror or exc}) and will be replaced"
        for number, line in enumerate(earlier.warnings):
            self.emit(Notice("warning", f"{line}{moved if number == 0 and earlier.broken is not None else ''}"))

    # -- 4. add --------------------------------------------------------------------------------

    def add(self, record: dict[str, Any]) -> None:
        """Keep a finished file's record: journalled at once (a kill from here on loses neither
        the output nor its record), then reported. Safe to call from any thread."""
        if self._journal is None:
            raise RuntimeError("RunFolder.add before start")
        self._journal.append(record)
        with self._records_lock:
            self.result.records.append(record)
        self.emit(FileFinished(record))

    def profile(self, waits: dict[str, float]) -> dict[str, Any]:
        """Sum this run's timings with the runner's clock (``waits``: see
        :func:`enhance.manifest.run_profile`) into ``result.profile``, which manifest.json and the
        reports keep; call it before :meth:`finish`."""
        with self._records_lock:
            records = list(self.result.records)
        self.result.profile = run_profile(records, waits)
        return self.result.profile

    # -- 5. finish -----------------------------------------------------------------------------

    def finish(self, *, interrupted: bool = False) -> BatchResult:
        """Write manifest.json (and the reports, when scored) and stop journalling; idempotent.

        ``summary`` covers every record listed (earlier runs' included), ``this_run`` only this
        run's. A file that cannot be written (disk full, the folder turned read-only) is an
        error :class:`~enhance.events.Notice` naming it and the fix, and goes to
        ``result.unwritten`` (exit 1); the journal is then kept, so a rerun recovers every record.
        """
        from .report import save_reports

        if self._journal is None:
            return self.result
        journal, self._journal = self._journal, None
        result = self.result
        result.interrupted = result.interrupted or interrupted
        with self._records_lock:
            result.records.sort(key=lambda r: self._order.get(r["input"], len(self._order)))
        journal.close()
        records = merge_records(result.records, self.earlier.records)
        data = build_manifest(
            "run",
            records,
            started=self._started,
            **{"pipeline": None, "config": None, "device": None, **self._header},
            interrupted=result.interrupted,
            this_run=summarize(result.records),
            **({"profile": result.profile} if result.profile is not None else {}),
        )
        manifest_path = self.path / MANIFEST_NAME
        try:
            write_manifest(manifest_path, data)
        except OSError as exc:
            self._unwritten(
                f"{manifest_path}: cannot be written ({exc.strerror or exc}); the outputs and their records "
                f"(in {journal.path}) are kept: free some space or make the folder writable, then rerun to write it"
            )
            return result
        journal.remove()  # its records are in manifest.json now
        if any(r.get("results", {}).get("scores") for r in records):
            _, problem = save_reports(data, self.path)
            if problem is not None:
                self._unwritten(problem)
        return result

    def _unwritten(self, line: str) -> None:
        self.result.unwritten.append(line)
        self.emit(Notice("error", line))

    def close(self) -> None:
        """Let the folder go (idempotent); a folder the run created and left empty is removed."""
        if self._held is not None:
            self._held.release()
            self._held = None


def _made_by(earlier: dict[str, Any], job: Job) -> bool:
    """True when an earlier run recorded making ``job``'s output from this input (done, or
    skipped as done before): only then is an existing output skipped."""
    return earlier.get("status") in ("done", "skipped") and earlier.get("output") == str(job.destination)


def _skipped(job: Job, earlier: dict[str, Any]) -> dict[str, Any]:
    """The record of a file an earlier run finished: its results, sizes and timings kept."""
    extra = {"written": earlier["written"]} if "written" in earlier else {}
    return new_record(
        job.source,
        job.relative,
        "skipped",
        output=job.destination,
        timings=earlier.get("timings", {}),
        results=earlier.get("results", {}),
        size=earlier.get("size", {}),
        warnings=["output exists; rerun with --overwrite to redo it"],
        **extra,
    )


def merge_records(current: list[dict[str, Any]], earlier: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's records, then the earlier manifest's records of inputs this run did not touch.

    Keeping those means a partial rerun (``--glob``, one file) forgets no earlier output: they stay
    recognised as outputs (never taken as inputs) and in the reports. An earlier record whose output
    this run wrote from another input no longer describes that file and is dropped.
    """
    inputs = {r["input"] for r in current}
    written = {r["output"] for r in current if r["status"] == "done" and r.get("output")}
    kept = [r for key, r in earlier.items() if key not in inputs and not (r.get("output") and r["output"] in written)]
    return [*current, *kept]
