"""One file's work, as every runner does it: read, compute, write, and the record each outcome makes.

A runner decides only where and when these steps run: the local runner (:mod:`enhance.batch`)
decodes and encodes on threads around the device; a distributed runner would run them on its
workers. Both call these functions, so a file's output and its manifest record are the same
whichever runner made them, and both hand each finished record to the output folder's session
(:meth:`enhance.runfolder.RunFolder.add`).

The steps of a file that goes through: :func:`read_input` → :func:`compute` →
:func:`done_record` → :func:`write_output` → :func:`written`. A step that raises fails that file
only: :func:`failed_record` turns the exception into its record (one line naming the file).
"""

from __future__ import annotations

import time
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


def read_input(job: Job, pipeline: Pipeline | None = None) -> tuple[Raster, float]:
    """Decode ``job``'s input; returns the raster and the seconds it took. Given the ``pipeline``
    it is for, the file's header is checked first against its bounds (:meth:`Pipeline.check_fits`).

    Raises:
        InputError: the file cannot be used, or would not fit (one line naming it).
    """
    from . import io  # looked up at each call, so a codec swapped in enhance.io is the one used

    t0 = time.perf_counter()
    if pipeline is not None:
        pipeline.check_fits(io.probe(job.source))
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
        out, image, ctx = pipeline.process_raster(raster, path=job.source)
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
        timings={"read": round(read_seconds, 4), "compute": round(computed.seconds, 4)},
        size={"input": [width, height], "output": list(computed.size)},
        results=computed.results,
        warnings=warnings,
        **extra,
    )


def write_output(job: Job, raster: Raster, pipeline: Pipeline) -> tuple[float, dict[str, int]]:
    """Encode ``raster`` to ``job``'s output as ``pipeline``'s output spec says, signed with new
    content credentials when it asks, and write it atomically (folders created; the signature is
    made on the encoded bytes before the rename); returns the seconds it took and the written
    file's stamp (how a later run knows the file as this run's).

    Raises:
        Exception: the encoder's, the signer's or the file system's error; it fails this file only.
    """
    t0 = time.perf_counter()
    job.destination.parent.mkdir(parents=True, exist_ok=True)
    pipeline.write_output(raster, job.source, job.destination)
    return time.perf_counter() - t0, stamp(job.destination)


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
