"""The ``deband`` stage: remove gradient banding from skies, skin and soft backgrounds while
leaving texture and edges untouched. The math is :func:`enhance.ops.deband`.

Write its output with dither (the 8-bit writer's default) or in 16 bits: rounding a smooth
result to 8 bits without dither brings the bands back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from ..ops.debanding import GRAIN, ITERATIONS, RADIUS, THRESHOLD
from .base import Stage, StageParams

if TYPE_CHECKING:
    from ..context import RunContext
    from ..image import Image

__all__ = ["Deband", "combine_seeds"]


class DebandParams(StageParams):
    """Parameters of the ``deband`` stage (see :func:`enhance.ops.deband`)."""

    threshold: float = Field(
        THRESHOLD.default,
        gt=THRESHOLD.low,
        le=THRESHOLD.high,
        description=(
            "largest step smoothed, in 8-bit code values (1 = 1/255 of full range): a pixel is "
            "smoothed only when it and all its references lie within this range. 10 removes "
            "one-code bands and posterisation down to 32 levels; use 2-4 to keep subtle "
            "flat shading such as cel shading"
        ),
    )
    radius: int = Field(
        int(RADIUS.default),
        ge=RADIUS.low,
        le=RADIUS.high,
        description="reference distance in pixels for the first iteration; iteration i reaches radius * 4^(i-1)",
    )
    iterations: int = Field(
        int(ITERATIONS.default),
        ge=ITERATIONS.low,
        le=ITERATIONS.high,
        description=(
            "passes with growing reach (3: 16, 64, 256 px with the default radius); wide posterised "
            "bands need the long ones; chroma is corrected from the second pass on"
        ),
    )
    grain: float = Field(
        GRAIN.default,
        ge=GRAIN.low,
        le=GRAIN.high,
        description="standard deviation of noise added to the changed pixels, in 8-bit code values (0 = none)",
    )
    seed: int = Field(
        0,
        ge=0,
        description="seed of the random references and grain, combined with the run's seed; same seeds, same output",
    )
    channels: Literal["all", "luma", "chroma"] = Field(
        "all",
        description="planes to deband: all (every colour plane), luma or chroma (full-range BT.601 YCbCr)",
    )


class Deband(Stage):
    """Remove banding: f3kdb-style random-reference smoothing under a threshold, then dither on write."""

    name: ClassVar[str] = "deband"
    description: ClassVar[str] = "remove gradient banding (skies, skin, soft backgrounds) without touching texture"
    Params: ClassVar[type[StageParams]] = DebandParams
    c2pa_action: ClassVar[str | None] = "c2pa.filtered"

    def process(self, image: Image, ctx: RunContext) -> Image:
        from ..ops.debanding import deband

        params = self.params
        assert isinstance(params, DebandParams)
        pixels = deband(
            image.pixels,
            threshold=params.threshold,
            radius=params.radius,
            iterations=params.iterations,
            grain=params.grain,
            seed=combine_seeds(ctx.seed, params.seed),
            channels=params.channels,
        )
        return image.replace(pixels=pixels)


def combine_seeds(run_seed: int, stage_seed: int) -> int:
    """One 63-bit seed from the run's and the stage's: a hash, so it is the same on every platform
    and every pair of seeds gives its own stream."""
    import hashlib

    digest = hashlib.blake2b(f"{int(run_seed)}:{int(stage_seed)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF
