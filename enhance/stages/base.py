"""The Stage base class: a validated parameter model plus ``process(image, ctx) -> image``; and the
parameter types several stages share, declared once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ..context import RunContext
    from ..image import Image

__all__ = ["Stage", "StageParams", "TargetLongSide", "TargetScale", "TargetSize"]


class StageParams(BaseModel):
    """Base of every stage's parameter model: unknown parameters are errors, values are frozen, and
    no float parameter takes NaN or infinity (YAML's ``.nan``, ``.inf``, ``1e999``): none means
    anything as a stage setting, and each would pass a one-sided bound such as ``gt=0``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is not None and min(size) < 1:
        raise ValueError(f"size must be [width, height] with both > 0, got {list(size)}")
    return size


# Target-size parameters of the stages that change the image size (resize, upscale): one
# declaration, so both accept the same values and describe them alike.
#: the longer side of the output, in pixels; the aspect ratio is kept
TargetLongSide = Annotated[int | None, Field(gt=0, description="the longer side becomes this many pixels, aspect kept")]
#: the exact output size, ``[width, height]`` in pixels
TargetSize = Annotated[
    tuple[int, int] | None, AfterValidator(_check_size), Field(description="exact output [width, height]")
]
#: output size over input size, the same on both axes
TargetScale = Annotated[float | None, Field(gt=0, allow_inf_nan=False, description="multiply both sides by this")]


class Stage:
    """One step of a pipeline.

    Subclasses set ``name`` (the key used in pipelines.yaml), a one-line ``description``, a
    ``Params`` model (pydantic, with defaults and constraints) and implement :meth:`process`.
    Heavy imports (torch, models) happen inside methods, never at module import, so listing and
    validating stages stays fast.

    A stage is callable on an :class:`~enhance.image.Image`, a numpy array (HWC uint8/uint16/float),
    a PIL image, a torch tensor or a path, and returns the same kind it was given.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams

    def __init__(self, params: StageParams | Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        given = params.model_dump(exclude_unset=True) if isinstance(params, StageParams) else dict(params or {})
        self.params = self.Params.model_validate({**given, **kwargs})
        self._ready_for: str | None = None

    def __repr__(self) -> str:
        set_fields = self.params.model_dump(exclude_defaults=True)
        args = ", ".join(f"{k}={v!r}" for k, v in set_fields.items())
        return f"{type(self).__name__}({args})"

    def setup(self, ctx: RunContext) -> None:
        """Prepare heavy resources once per device (load weights...), before any image is processed.

        Raise :class:`~enhance.errors.ConfigError` for what the user must fix (a missing model):
        the run stops with exit 2 before touching an image. The default does nothing.
        """

    def ensure_setup(self, ctx: RunContext) -> None:
        """Call :meth:`setup` once per device."""
        key = str(ctx.device)
        if self._ready_for != key:
            self.setup(ctx)
            self._ready_for = key

    def process(self, image: Image, ctx: RunContext) -> Image:
        """Transform ``image`` (already on ``ctx.device``) and return the result."""
        raise NotImplementedError

    def __call__(self, image: Any, ctx: RunContext | None = None) -> Any:
        from ..context import RunContext
        from ..convert import coerce, restore_kind

        if ctx is None:
            from ..devices import resolve_device

            ctx = RunContext(device=resolve_device("auto"))
        value, kind = coerce(image, ctx.device)
        if ctx.source is None:
            ctx.source = value
        self.ensure_setup(ctx)
        return restore_kind(self.process(value, ctx), kind)
