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

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from .base import Stage, StageParams

if TYPE_CHECKING:
    import torch

    from ..context import RunContext
    from ..image import Image

__all__ = ["Score", "ScoreParams"]


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
    memory_factor: ClassVar[float] = 7.0
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
