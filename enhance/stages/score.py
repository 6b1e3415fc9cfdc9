"""The ``score`` stage: before/after metrics of the pipeline's input and its current image.

"Before" is the pipeline's input (``ctx.source``), "after" the image reaching this stage. The
pipeline usually changes the size (2K in, 4K out), and most metrics depend on size (PNG bits per
pixel, NIQE, banding visibility), so ``at`` says where the two are compared:

* ``output`` (default): "before" is resampled to the output size (bicubic up, area down), so the
  delta is what the pipeline gives over a plain resize of the input — the question users ask.
* ``input``: "after" is resampled (area down, bicubic up) to the input size: detail at the
  source's own scale.
* ``native``: each at its own size. Only metrics whose values do not depend on size
  (``entropy``) are comparable this way; asking for another is a configuration error. Not
  ``sharpness``: a plain resize keeps it, but sharp detail drawn at 2x the size reads ~1.4x.

The stage never changes the image. It writes ``results["scores"] = {metric: {"before", "after",
"delta"}}`` (delta = after - before; a metric that cannot be computed on an image is None with a
warning) and ``results["scores_at"] = {"mode", "size"}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from .base import Stage, StageParams

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..context import RunContext
    from ..image import Image

__all__ = ["DeferredScore", "HOST_METRICS", "Score", "ScoreParams"]

#: metrics whose work is CPU-only (a PNG encode): a batch runner computes them off the device thread
HOST_METRICS = ("png_bpp",)


class ScoreParams(StageParams):
    metrics: list[str] | None = Field(
        default=None,
        description="no-reference metrics to compute (default: every one that needs no extra)",
    )
    at: Literal["output", "input", "native"] = Field(
        default="output", description="compare at the output size, the input size, or each at its own"
    )

    @field_validator("metrics", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        from ..errors import ConfigError
        from ..metrics.registry import validate_metrics

        if value is None:
            return None
        try:
            return validate_metrics(value, kind="no-reference")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class Score(Stage):
    """Score the pipeline's input and the current image with no-reference metrics."""

    name: ClassVar[str] = "score"
    c2pa_action: ClassVar[str | None] = None  # measures, changes nothing
    description: ClassVar[str] = "Score before/after (sharpness, entropy, PNG bits/px, banding...) into the manifest"
    Params = ScoreParams
    params: ScoreParams

    @property
    def metric_names(self) -> list[str]:
        from ..metrics.registry import default_metrics

        return list(self.params.metrics) if self.params.metrics is not None else default_metrics()

    def setup(self, ctx: RunContext) -> None:
        from ..errors import ConfigError
        from ..metrics.registry import get_metric, validate_metrics

        names = validate_metrics(self.metric_names, kind="no-reference", where="stage score")
        if self.params.at == "native":
            sized = [n for n in names if not get_metric(n).scale_invariant]
            if sized:
                raise ConfigError(
                    f"stage score: {', '.join(sized)} depend(s) on image size, so with at: native "
                    "before and after are not comparable; use at: output (default) or at: input"
                )

    def process(self, image: Image, ctx: RunContext) -> Image:
        from ..metrics.registry import compute_each

        before = (ctx.source if ctx.source is not None else image).pixels.to(image.device)
        after = image.pixels
        if before.shape[0] != after.shape[0]:  # gray against colour: score both as colour
            before, after = before.expand(3, -1, -1), after.expand(3, -1, -1)
        if self.params.at == "output":
            before = _resample(before, after.shape[-2:])
        elif self.params.at == "input":
            after = _resample(after, before.shape[-2:])
        compared = None if self.params.at == "native" else [int(after.shape[-1]), int(after.shape[-2])]

        scores: dict[str, dict[str, float | None]] = {}
        sides = (("before", before), ("after", after))
        for name in self.metric_names:
            if name in HOST_METRICS and ctx.host_work is not None:
                # only the 8-bit codes leave the device; the runner encodes them on a host thread
                # (or reads "after" off the written file) and fills these in
                from ..metrics.information import codes8

                ctx.host_work.extend(DeferredScore(name, label, codes8(planes)) for label, planes in sides)
                scores[name] = {"before": None, "after": None, "delta": None}
                continue
            b, a = (compute_each([name], planes, label=label, warn=ctx.warn)[name] for label, planes in sides)
            scores[name] = {"before": b, "after": a, "delta": None if a is None or b is None else a - b}
        ctx.results["scores"] = scores
        ctx.results["scores_at"] = {"mode": self.params.at, "size": compared}
        return image


def _resample(x: torch.Tensor, size: Any) -> torch.Tensor:
    """``x`` resized to ``size`` (h, w): bicubic when enlarging, area averaging when reducing."""
    from ..ops.resampling import resize

    h, w = int(size[0]), int(size[1])
    if tuple(x.shape[-2:]) == (h, w):
        return x
    method = "bicubic" if h * w > x.shape[-2] * x.shape[-1] else "area"
    return resize(x, size=(h, w), method=method).clamp(0, 1)


@dataclass
class DeferredScore:
    """One side of a host-only metric (``png_bpp``) that the score stage left to the batch runner.

    ``codes`` are the 8-bit colour planes as scored (HxWxC uint8, on the CPU). The runner calls
    :meth:`take_written` with the output it wrote (free when the file holds exactly these codes:
    an undithered 8-bit PNG at the metric's level, written by the same encoder), then :meth:`run`
    for what is still missing; ``value`` (or ``error``) holds the outcome.
    """

    metric: str
    side: str
    codes: np.ndarray
    value: float | None = None
    error: str | None = None
    #: seconds spent getting the value (an encode, or reading it off the written file)
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.value is not None or self.error is not None

    def take_written(self, array: np.ndarray, png: bytes | None, level: int | None) -> bool:
        """Take the value from the written file ``png`` (of pixels ``array``, at zlib ``level``)
        when that file is the encode this metric would make; returns whether it did."""
        import numpy as np

        from ..io import PNG_COMPRESS_LEVEL
        from ..metrics.information import png_bpp_of_png

        start = time.perf_counter()
        pixels = array if array.ndim == 3 else array[:, :, None]
        if (
            self.finished
            or png is None
            or level != PNG_COMPRESS_LEVEL
            or not png.startswith(b"\x89PNG")
            or pixels.dtype != np.uint8
            or pixels.shape != self.codes.shape
            or not np.array_equal(pixels, self.codes)
        ):
            return False
        self.value = png_bpp_of_png(png, self.codes.shape[1], self.codes.shape[0])
        self.seconds += time.perf_counter() - start
        return True

    def run(self) -> None:
        """Compute the value (a PNG encode, GIL released); an error is kept, never raised."""
        from ..errors import first_line
        from ..metrics.information import png_bpp_codes

        if self.finished:
            return
        start = time.perf_counter()
        try:
            self.value = png_bpp_codes(self.codes)
        except Exception as exc:  # one metric failing on one image must not fail the image
            self.error = f"score: {self.metric} ({self.side}) could not be computed: {first_line(exc)}"
        self.seconds += time.perf_counter() - start
