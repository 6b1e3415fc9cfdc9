"""RunContext: what a stage may know about the run beyond the image it is given, and the caller's
progress and cancel hooks for long work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Union

if TYPE_CHECKING:
    import torch

    from .image import Image

__all__ = ["RunContext", "Progress", "CancelLike", "is_cancelled", "raise_if_cancelled"]

log = logging.getLogger("enhance")

#: ``progress(done, total)``: units of work (tiles, for upscale) finished out of the total
Progress = Callable[[int, int], None]


class _EventLike(Protocol):
    def is_set(self) -> bool: ...


#: a ``threading.Event`` (cancelled once set) or a callable that returns True to cancel
CancelLike = Union[_EventLike, Callable[[], bool]]  # noqa: UP007 - evaluated at runtime on Python 3.10


def is_cancelled(cancel: CancelLike | None) -> bool:
    """Whether ``cancel`` (None, an Event-like object with ``is_set``, or a callable) asks to stop."""
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    return bool(cancel())  # type: ignore[operator]


def raise_if_cancelled(cancel: CancelLike | None, what: str = "the call") -> None:
    """Raise :class:`~enhance.errors.Cancelled` when ``cancel`` asks to stop."""
    if is_cancelled(cancel):
        from .errors import Cancelled

        raise Cancelled(f"{what} was cancelled by the caller")


@dataclass
class RunContext:
    """Per-image state shared by the stages of one pipeline run.

    A context passed to a stage or pipeline call is a template: every call works on its own copy
    (:meth:`for_image`), so the same context can serve any number of calls, and what one call
    finds (scores, warnings) never leaks into the next. Ask a call for its results with
    ``return_results=True``.

    Attributes:
        device: where the image lives and stages compute (one upload, one download per image).
        source: the pipeline's input image ("before"), for stages that compare, e.g. ``score``.
            Set by the call itself; a source given in a template is used as every call's "before".
        path: the input file, for messages; None for in-memory images.
        seed: base seed for anything random (dither, grain); runs are deterministic by default.
        results: what stages report for this image (scores, chosen tile size...). The batch runner
            writes it to the manifest, so values must be JSON-serialisable.
        warnings: messages for the user about this image (e.g. a tile rerun in fp32).
        progress: called as ``progress(done, total)`` during long tiled work (upscale tiles).
        cancel: a ``threading.Event`` or a callable returning True; long work checks it between
            tile batches and raises :class:`~enhance.errors.Cancelled`.
        timings: each stage's own wall time in seconds (device synchronised), keyed by stage
            name (``resize#2`` for the second resize), plus ``upload`` and ``download``; filled
            by :meth:`enhance.pipeline.Pipeline.process_raster`.
        host_work: None (the default) for stages to do all their work now; a list when the caller
            (a batch runner) takes CPU-only work off the device thread: a stage may then append
            deferred work to it (the ``score`` stage's PNG encodes) and leave its result to the runner.
    """

    device: torch.device | str = "cpu"
    source: Image | None = None
    path: Path | None = None
    seed: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    progress: Progress | None = None
    cancel: CancelLike | None = None
    timings: dict[str, float] = field(default_factory=dict)
    host_work: list[Any] | None = None

    def warn(self, message: str) -> None:
        """Record a warning for this image and log it."""
        where = f"{self.path}: " if self.path else ""
        self.warnings.append(message)
        log.warning("%s%s", where, message)

    def for_image(self, source: Image | None = None, path: Path | None = None) -> RunContext:
        """A fresh context for the next image, keeping the run-wide settings (device, seed, the
        progress and cancel hooks); results and warnings start empty."""
        return RunContext(
            device=self.device, source=source, path=path, seed=self.seed, progress=self.progress, cancel=self.cancel
        )

    def raise_if_cancelled(self, what: str = "the call") -> None:
        """Raise :class:`~enhance.errors.Cancelled` when this context's ``cancel`` asks to stop."""
        raise_if_cancelled(self.cancel, what)
