"""One file's work, as every runner does it: read, compute, write, and the record each outcome makes.

A runner decides only where and when these steps run: the local runner (:mod:`enhance.batch`)
decodes and encodes on threads around the device; a distributed runner would run them on its
workers. Both call these functions, so a file's output and its manifest record are the same
whichever runner made them, and both hand each finished record to the output folder's session
(:meth:`enhance.runfolder.RunFolder.add`).

The steps of a file that goes through: :func:`read_input` → :func:`compute` →
:func:`done_record` → :func:`write_output` → :func:`finish_host_work` → :func:`written`. A step
that raises fails that file only: :func:`failed_record` turns the exception into its record (one
line naming the file).

Timings are made inside these steps, so every runner's records carry them: ``read``, ``compute``
(upload, stages, download; the device synchronised) with ``stages`` (each stage's own seconds),
``write`` and ``score`` (the score stage's CPU-only work that :func:`compute` leaves in
``Computed.host_work``: a runner runs it off the device thread, the items that do not need the
output (:func:`host_items`) as early as it likes, e.g. in parallel with the write).
:func:`enhance.manifest.run_profile` sums them for a run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .devices import is_out_of_memory, release_memory
from .discovery import Job, stamp
from .manifest import failure_message, new_record

if TYPE_CHECKING:
    from .image import Raster
    from .pipeline import Pipeline

__all__ = [
    "UNRECORDED_OUTPUT",
    "Computed",
    "compute",
    "done_record",
    "failed_record",
    "finish_host_work",
    "host_items",
    "read_input",
    "write_output",
    "written",
]

#: the warning on a record whose output replaced a file no earlier run recorded writing
UNRECORDED_OUTPUT = (
    "replaced an existing file of this name that no earlier run recorded writing "
    "(an interrupted write, or a file put there)"
)


@dataclass
class Computed:
    """What the pipeline made of one input: the output raster (quantised, ready to encode), its
    size, what the stages reported, and how long it took."""

    raster: Raster
    size: tuple[int, int]
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: what the record says of content credentials (the source's, and the output's), if anything
    credentials: dict[str, Any] | None = None
    #: each stage's own wall time (device synchronised), with ``upload`` and ``download``
    stages: dict[str, float] = field(default_factory=dict)
    #: CPU-only work the stages left for the runner (:class:`enhance.stages.score.DeferredScore`)
    host_work: list[Any] = field(default_factory=list)


def read_input(job: Job) -> tuple[Raster, float]:
    """Decode ``job``'s input; returns the raster and the seconds it took.

    Raises:
        InputError: the file cannot be used (one line naming it).
    """
    from . import io  # looked up at each call, so a codec swapped in enhance.io is the one used

    t0 = time.perf_counter()
    raster = io.decode(job.source)
    return raster, time.perf_counter() - t0


def compute(pipeline: Pipeline, raster: Raster, job: Job) -> Computed:
    """Run ``pipeline`` on one decoded input (one upload, one download). Out of memory, the
    device's cached memory is given back before the error goes on, so the next file starts clean.

    Raises:
        Exception: whatever a stage raised; it fails this file only.
    """
    t0 = time.perf_counter()
    try:
        out, image, ctx = pipeline.process_raster(raster, path=job.source, defer_host=True)
    except Exception as exc:
        if is_out_of_memory(exc):
            release_memory(pipeline.device)
        raise
    from .io import encode_notes

    width, height = image.size
    del image  # the float result on the device: only its size is kept
    # what reading the source changed (an animation's frames, a float TIFF's encoding) and what
    # writing will change (a JPEG XL output's colour conversion) go into the record with the stages'
    warnings = [*out.meta.warnings, *ctx.warnings, *encode_notes(out.meta, pipeline.output.format_for(job.source))]
    return Computed(
        out,
        (width, height),
        ctx.results,
        warnings,
        time.perf_counter() - t0,
        credentials=pipeline.credentials_record(out.meta),
        stages=dict(ctx.timings),
        host_work=list(ctx.host_work or []),
    )


def done_record(
    job: Job, raster_in: Raster, computed: Computed, *, read_seconds: float, replaces_unrecorded: bool = False
) -> dict[str, Any]:
    """The record of a computed file, before its write: timings (read, compute), sizes (input,
    output), the stages' results and warnings; ``replaces_unrecorded`` when its output path holds
    a file no earlier run recorded writing (see :meth:`enhance.runfolder.RunFolder.start`)."""
    height, width = raster_in.array.shape[:2]
    warnings = [*computed.warnings, *([UNRECORDED_OUTPUT] if replaces_unrecorded else [])]
    extra = {"content_credentials": computed.credentials} if computed.credentials is not None else {}
    return new_record(
        job.source,
        job.relative,
        "done",
        output=job.destination,
        timings={
            "read": round(read_seconds, 4),
            "compute": round(computed.seconds, 4),
            "stages": {name: round(seconds, 4) for name, seconds in computed.stages.items()},
        },
        size={"input": [width, height], "output": list(computed.size)},
        results=computed.results,
        warnings=warnings,
        **extra,
    )


def write_output(
    job: Job, raster: Raster, pipeline: Pipeline, host_work: Sequence[Any] = ()
) -> tuple[float, dict[str, int]]:
    """Encode ``raster`` to ``job``'s output as ``pipeline``'s output spec says, signed with new
    content credentials when it asks, and write it atomically (folders created; the signature is
    made on the encoded bytes before the rename); returns the seconds it took and the written
    file's stamp (how a later run knows the file as this run's).

    ``host_work`` (``Computed.host_work``): items the written file can serve take their value
    from it (``png_bpp`` of an undithered 8-bit PNG output: no second encode).

    Raises:
        Exception: the encoder's, the signer's or the file system's error; it fails this file only.
    """
    t0 = time.perf_counter()
    job.destination.parent.mkdir(parents=True, exist_ok=True)
    data = pipeline.write_output(raster, job.source, job.destination)
    seconds = time.perf_counter() - t0
    if host_work:
        level = pipeline.output.encode_options(job.source).get("compress_level")
        for item in host_work:
            item.take_written(raster.array, data, level)
    return seconds, stamp(job.destination)


def host_items(computed: Computed, *, early: bool) -> list[Any]:
    """``computed``'s host work that can run now, before the output is written (``early``), or the
    rest (items the written file may serve: run them after :func:`write_output`)."""
    return [item for item in computed.host_work if (item.side != "after") == early]


def finish_host_work(record: dict[str, Any], host_work: Sequence[Any]) -> dict[str, Any]:
    """Run what is left of ``host_work`` (on the calling thread) and put the values into
    ``record``'s scores (deltas included; a failure is a warning and None, as in the stage);
    ``timings["score"]`` gets the seconds all of them took (wherever they ran)."""
    scores = record.get("results", {}).get("scores", {})
    for item in host_work:
        item.run()
        if item.error:
            record["warnings"].append(item.error)
        entry = scores.setdefault(item.metric, {"before": None, "after": None, "delta": None})
        entry[item.side] = item.value
        before, after = entry.get("before"), entry.get("after")
        entry["delta"] = None if before is None or after is None else after - before
    if host_work:
        record["timings"]["score"] = round(sum(item.seconds for item in host_work), 4)
    return record


def written(record: dict[str, Any], seconds: float, file_stamp: dict[str, int]) -> dict[str, Any]:
    """``record`` (from :func:`done_record`) completed once its output is in place."""
    record["timings"]["write"] = round(seconds, 4)
    record["written"] = file_stamp
    return record


def failed_record(job: Job, exc: BaseException, **extra: Any) -> dict[str, Any]:
    """The record of a file that failed: the error's first line, prefixed with the file unless it
    names it; ``extra`` keeps what was measured before (timings, size)."""
    message = failure_message(exc, job.source, job.relative)
    return new_record(job.source, job.relative, "failed", output=job.destination, error=message, **extra)
