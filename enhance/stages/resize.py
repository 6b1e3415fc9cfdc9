"""The ``resize`` stage: to a long side, an exact size or a scale factor (e.g. "downscale to 2K",
"exactly 4K"), with area, lanczos, bicubic or MATLAB bicubic resampling, optionally in linear light.

A thin wrapper around :func:`enhance.ops.resampling.resize`: it computes the target, skips when asked
to go only one way, resizes colour and alpha premultiplied (so transparent neighbours do not
darken edges), and clamps the result to [0, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from ..ops.resampling import METHODS, Method, target_size
from .base import Stage, StageParams, TargetLongSide, TargetScale, TargetSize

if TYPE_CHECKING:
    import torch

    from ..context import RunContext
    from ..image import Image

__all__ = ["Resize", "ResizeParams"]

_TARGETS = "long_side, size [width, height], scale, or width and/or height"


class ResizeParams(StageParams):
    """Parameters of the ``resize`` stage: exactly one target, plus how to resample."""

    long_side: TargetLongSide = None
    size: TargetSize = None
    scale: TargetScale = None
    width: PositiveInt | None = Field(None, description="output width; the height follows the aspect unless given")
    height: PositiveInt | None = Field(None, description="output height; the width follows the aspect unless given")
    method: Method = Field("lanczos", description=f"resampling: {', '.join(METHODS)}")
    linear_light: bool = Field(False, description="resample in linear light instead of sRGB values")
    only: Literal["always", "down", "up"] = Field(
        "always", description="down: skip images that would grow; up: skip images that would shrink"
    )

    @model_validator(mode="after")
    def _one_target(self) -> ResizeParams:
        given = [name for name in ("long_side", "size", "scale") if getattr(self, name) is not None]
        if self.width is not None or self.height is not None:
            given.append("width/height")
        if len(given) != 1:
            found = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(f"resize needs exactly one target: {_TARGETS} ({found})")
        return self


class Resize(Stage):
    """Resize to a target size; see :class:`ResizeParams` and :mod:`enhance.ops.resampling`."""

    name: ClassVar[str] = "resize"
    c2pa_action: ClassVar[str | None] = "c2pa.resized"
    description: ClassVar[str] = (
        "resize to a long side, exact size or scale factor (area, lanczos, bicubic, matlab-bicubic), "
        "optionally in linear light"
    )
    Params: ClassVar[type[StageParams]] = ResizeParams
    params: ResizeParams

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` an image of this size is resized to (before ``only`` applies)."""
        p = self.params
        w, h = p.size if p.size is not None else (p.width, p.height)
        return target_size((height, width), long_side=p.long_side, width=w, height=h, scale=p.scale)

    def process(self, image: Image, ctx: RunContext) -> Image:
        p = self.params
        in_hw = (image.height, image.width)
        out_hw = self.target(*in_hw)
        record: dict[str, object] = {"from": [in_hw[1], in_hw[0]], "to": [out_hw[1], out_hw[0]], "method": p.method}
        ctx.results.setdefault("resize", []).append(record)

        grows = out_hw[0] > in_hw[0] or out_hw[1] > in_hw[1]
        shrinks = out_hw[0] < in_hw[0] or out_hw[1] < in_hw[1]
        skip = None
        if out_hw == in_hw:
            skip = "already that size"
        elif p.only == "down" and grows:
            skip = "only=down and the image would grow"
        elif p.only == "up" and shrinks:
            skip = "only=up and the image would shrink"
        if skip:
            record["to"], record["skipped"] = record["from"], skip
            return image

        aspect_in, aspect_out = in_hw[1] / in_hw[0], out_hw[1] / out_hw[0]
        if abs(aspect_out / aspect_in - 1.0) > 0.01:
            ctx.warn(
                f"resize to {out_hw[1]}x{out_hw[0]} changes the aspect ratio from {aspect_in:.3f} to "
                f"{aspect_out:.3f} (the image is stretched); use long_side, width or height to keep it"
            )
        pixels, alpha = _resize_planes(image.pixels, image.alpha, out_hw, p.method, p.linear_light, p.scale)
        return image.replace(pixels=pixels, alpha=alpha)


def _resize_planes(
    pixels: torch.Tensor,
    alpha: torch.Tensor | None,
    size: tuple[int, int],
    method: str,
    linear_light: bool,
    scale: float | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resize colour (and alpha, premultiplied) on their device; results clamped to [0, 1]."""
    import torch

    from ..ops.color import linear_to_srgb, srgb_to_linear
    from ..ops.resampling import resize

    if alpha is None:
        return resize(pixels, size, method, linear_light=linear_light, scale=scale).clamp_(0.0, 1.0), None  # type: ignore[arg-type]
    # Premultiplied: a transparent pixel's colour carries no weight, so it cannot bleed into an
    # opaque neighbour (the dark fringe of resizing straight alpha).
    colour = srgb_to_linear(pixels) if linear_light else pixels
    planes = resize(torch.cat([colour * alpha, alpha]), size, method, scale=scale)  # type: ignore[arg-type]
    alpha_out = planes[-1:].clamp(0.0, 1.0)
    colour = torch.where(alpha_out > 0, planes[:-1] / alpha_out.clamp_min(1e-12), 0.0).clamp_(0.0, 1.0)
    if linear_light:
        colour = linear_to_srgb(colour)
    return colour, alpha_out
