"""The local folder runner: decode ahead and encode behind on threads, compute in order on the device.

What a run does to its output folder (the lock, earlier records, skipping finished files, the
journal, manifest.json and the reports) is :class:`enhance.runfolder.RunFolder`'s; what it does
to one file (read, compute, write, its record) is :mod:`enhance.work`'s. This module only
schedules that work on one machine: :class:`LocalScheduler`.

One bad file never stops the batch: it gets a failed record (one line, reported as an event) and
the run goes on. Ctrl-C leaves no partial file (writes are atomic, and the writes already handed
to the encoder finish), the manifest says the run was interrupted, and a rerun skips what is done.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .discovery import Job, collect_jobs, discover, plan_jobs
from .events import EventSink, emitter, listening
from .manifest import MANIFEST_NAME
from .runfolder import BatchResult, RunFolder
from .work import (
    Computed,
    compute,
    done_record,
    failed_record,
    finish_host_work,
    host_items,
    read_input,
    write_output,
    written,
)

if TYPE_CHECKING:
    from .image import Raster
    from .pipeline import Pipeline

__all__ = [
    "MANIFEST_NAME",
    "BatchResult",
    "Job",
    "LocalScheduler",
    "collect_jobs",
    "discover",
    "plan_jobs",
    "run_batch",
]


def run_batch(
    pipeline: Pipeline,
    inputs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    recursive: bool = False,
    pattern: str | None = None,
    overwrite: bool = False,
    jobs: int | None = None,
    config: Path | None = None,
    on_event: EventSink | None = None,
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
        config: the pipelines file, recorded in the manifest.
        on_event: receives the run's events (:mod:`enhance.events`): the planned count, each
            file's record as it finishes (failures with their one-line reason), warnings, a
            model download's progress during set-up. Nothing is printed without it; the command
            line draws its progress bar and lines from them.

    Returns:
        The records (also written to ``out_dir/manifest.json``) and counts.

    Raises:
        ConfigError: bad usage (see :func:`collect_jobs`), a setup failure, or an ``out_dir``
            that cannot be created or written, or that another enhance command is writing into:
            the folder is held for the whole run (:func:`enhance.files.lock_folder`), and taking
            it is the run's first write, before any image is read.
    """
    emit = emitter(on_event)
    folder = RunFolder(out_dir, "enhance run", on_event=emit)
    with listening(emit), folder:
        planned = folder.plan(inputs, pipeline.output, recursive=recursive, pattern=pattern)
        pipeline.signer()  # bad content-credential settings: ConfigError before any image is read
        base = pipeline.setup()  # ConfigError here: nothing processed, nothing written
        todo = folder.start(
            planned,
            overwrite=overwrite,
            pipeline=pipeline.name,
            config=str(config) if config else None,
            device=str(base.device),
        )
        scheduler = LocalScheduler(pipeline, folder, workers=jobs)
        try:
            scheduler.run(todo)
        finally:
            folder.profile(scheduler.waits)
        _note_dropped_credentials(folder.result.records, emit)
    return folder.result


def _note_dropped_credentials(records: Sequence[dict[str, Any]], emit: EventSink) -> None:
    """One line when sources carried content credentials that their (unsigned) outputs do not."""
    from .events import Notice

    dropped = sum(
        1
        for r in records
        if r.get("status") == "done"
        and (r.get("content_credentials") or {}).get("source")
        and not r["content_credentials"]["output"]["signed"]
    )
    if dropped:
        emit(
            Notice(
                "info",
                f"note: {dropped} source(s) carried content credentials (C2PA) that their outputs do not: "
                "the pixels changed, so the old manifests would read as tampered (see manifest.json); "
                "set output.content_credentials to sign new ones",
            )
        )


class LocalScheduler:
    """Runs jobs on this machine: decodes ahead on ``workers`` threads, computes in order on the
    calling thread (the device's), encodes behind on ``workers`` threads and runs the score stage's
    CPU-only work (PNG encodes for ``png_bpp``) on ``workers`` more; at most ``2 * workers`` images
    wait on each side, so memory stays bounded whatever the folder's size. The codecs release the
    GIL, so these threads use every core while the device works.

    Each finished file's record goes to ``folder`` (:meth:`RunFolder.add`) from the thread that
    finished it. On any way out (the end, Ctrl-C, an error), reads not started are dropped and the
    writes already handed over finish.

    ``waits`` says afterwards where the computing thread waited (seconds): ``decode`` (for a read),
    ``encode`` (for the write window), ``score`` (for host scoring), and ``compute`` its own busy
    time, ``drain`` the writes finishing after the last compute, ``wall`` the whole run: what
    :func:`enhance.manifest.run_profile` turns into the run's profile.
    """

    def __init__(self, pipeline: Pipeline, folder: RunFolder, *, workers: int | None = None) -> None:
        self.pipeline = pipeline
        self.folder = folder
        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        self.window = 2 * self.workers  # decodes ahead / encodes behind held in memory at once
        self.waits: dict[str, float] = {}

    def run(self, jobs: Sequence[Job]) -> None:
        """Do ``jobs``, in order."""
        waits = self.waits = dict.fromkeys(("wall", "compute", "decode", "encode", "score", "drain"), 0.0)
        started = time.perf_counter()
        pending = iter(jobs)
        reads: deque[tuple[Job, Future[tuple[Raster, float]]]] = deque()
        writes: deque[tuple[Future[None], list[Future[None]]]] = deque()
        decoder = ThreadPoolExecutor(self.workers, thread_name_prefix="enhance-decode")
        encoder = ThreadPoolExecutor(self.workers, thread_name_prefix="enhance-encode")
        scorer = ThreadPoolExecutor(self.workers, thread_name_prefix="enhance-score")
        try:
            self._read_ahead(pending, reads, decoder)
            while reads:
                job, read = reads.popleft()
                self._read_ahead(pending, reads, decoder)  # the decoders stay busy while this one computes
                handed = self._compute(job, read)
                if handed is not None:
                    raster, record, computed = handed
                    early = [scorer.submit(item.run) for item in host_items(computed, early=True)]
                    writes.append((encoder.submit(self._write, job, raster, record, computed, early), early))
                while len(writes) > self.window or (writes and writes[0][0].done()):
                    self._collect(writes.popleft())
            drain = time.perf_counter()
            while writes:
                self._collect(writes.popleft(), waited=False)
            waits["drain"] = time.perf_counter() - drain
        finally:
            for _, read in reads:
                read.cancel()
            decoder.shutdown(wait=True, cancel_futures=True)
            encoder.shutdown(wait=True)  # every write handed over finishes, atomically, with its record
            scorer.shutdown(wait=True)
            waits["wall"] = time.perf_counter() - started

    def _collect(self, entry: tuple[Future[None], list[Future[None]]], *, waited: bool = True) -> None:
        """Wait for one write (its host scoring first), counting the wait as ``score``/``encode``."""
        write, early = entry
        start = time.perf_counter()
        wait(early)
        scored = time.perf_counter()
        write.result()
        if waited:
            self.waits["score"] += scored - start
            self.waits["encode"] += time.perf_counter() - scored

    def _read_ahead(
        self, pending: Iterator[Job], reads: deque[tuple[Job, Future[tuple[Raster, float]]]], decoder: Executor
    ) -> None:
        """Hand the decoder jobs until ``window`` reads are pending or none is left."""
        while len(reads) < self.window and (job := next(pending, None)) is not None:
            reads.append((job, decoder.submit(read_input, job)))

    def _compute(self, job: Job, read: Future[tuple[Raster, float]]) -> tuple[Raster, dict[str, Any], Computed] | None:
        """Compute one decoded job; returns what to write, its record and the computed result, or
        None when the file failed (its record is kept)."""
        start = time.perf_counter()
        try:
            raster, read_seconds = read.result()
        except Exception as exc:
            self.folder.add(failed_record(job, exc))
            return None
        finally:
            self.waits["decode"] += time.perf_counter() - start
        start = time.perf_counter()
        try:
            computed = compute(self.pipeline, raster, job)
        except Exception as exc:
            self.folder.add(failed_record(job, exc, timings={"read": round(read_seconds, 4)}))
            return None
        finally:
            self.waits["compute"] += time.perf_counter() - start
        record = done_record(
            job, raster, computed, read_seconds=read_seconds, replaces_unrecorded=self.folder.replaces_unrecorded(job)
        )
        return computed.raster, record, computed

    def _write(
        self, job: Job, raster: Raster, record: dict[str, Any], computed: Computed, early: list[Future[None]]
    ) -> None:
        """Write one output, finish its host scoring and keep its record (an encoder error fails
        this file only)."""
        late = host_items(computed, early=False)
        try:
            seconds, stamp = write_output(job, raster, self.pipeline, late)
        except Exception as exc:
            wait(early)
            self.folder.add(failed_record(job, exc, timings=record["timings"], size=record["size"]))
            return
        wait(early)
        finish_host_work(record, computed.host_work)
        self.folder.add(written(record, seconds, stamp))
