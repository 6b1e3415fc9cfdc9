"""The Stage base class: a validated parameter model plus ``process(image, ctx) -> image``; and the
parameter types several stages share, declared once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ..context import CancelLike, Progress, RunContext
    from ..convert import Layout
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
    ``Params`` model (pydantic, with defaults and constraints) and implement :meth:`process`;
    ``c2pa_action`` names what the stage does in C2PA's terms, for outputs signed with content
    credentials (``c2pa.filtered``, ``c2pa.resized``...; None for a stage that leaves the pixels as
    they are).
    Heavy imports (torch, models) happen inside methods, never at module import, so listing and
    validating stages stays fast.

    A stage is callable on an :class:`~enhance.image.Image`, a numpy array, a PIL image, a torch
    tensor (one image or a batch, channels-first or last) or a path, and returns the same kind,
    layout, dtype and device it was given (see :meth:`__call__` and :mod:`enhance.convert`). Calls
    are stateless: each works on its own context, whose results it returns when asked.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams
    c2pa_action: ClassVar[str | None] = "c2pa.edited"

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

    def process_batch(self, images: Sequence[Image], contexts: Sequence[RunContext]) -> list[Image]:
        """Transform several images (a batch the caller gave as one tensor or array), each with its
        own context. One by one by default; a stage whose work batches well overrides it (upscale
        runs the tiles of equal-sized images through the model together)."""
        return [self.process(image, ctx) for image, ctx in zip(images, contexts, strict=True)]

    def __call__(
        self,
        image: Any,
        ctx: RunContext | None = None,
        *,
        layout: Layout | str | None = None,
        channel_order: Literal["rgb", "bgr"] | str = "rgb",
        return_results: bool = False,
        progress: Progress | None = None,
        cancel: CancelLike | None = None,
    ) -> Any:
        """Run the stage on what the caller holds and hand it back in the same form.

        Args:
            image: an Image, a path, a numpy array, a PIL image or a tensor, one image or a batch
                (see :mod:`enhance.convert` for the shapes and dtypes accepted).
            ctx: the device, seed and hooks to use (a template: the call works on its own copy, so
                one context serves any number of calls); default: the best device (CUDA when
                available), seed 0.
            layout: the axes of an array or tensor where its shape fits two readings
                (``"BHWC"`` for ComfyUI's IMAGE, ``"CHW"``, ...).
            channel_order: ``"bgr"`` for OpenCV/chaiNNer-ordered input; results come back alike.
            return_results: also return what the stage reported (scores, tile size, warnings):
                ``(result, context)``, or ``(result, [context per image])`` for a batch.
            progress: ``progress(done, total)`` during long tiled work.
            cancel: a ``threading.Event`` or a callable returning True; checked between tile
                batches, it stops the call with :class:`~enhance.errors.Cancelled`.

        Returns:
            The result in the caller's kind, layout, dtype and device (an Image for a path).

        Raises:
            ImageFormatError: an image outside the input contract.
        """
        from ..convert import from_images, to_images

        base = _template(ctx, progress, cancel)
        images, kind = to_images(image, base.device, layout=layout, channel_order=channel_order)
        self.ensure_setup(base)
        contexts = [
            base.for_image(source=base.source if base.source is not None else one, path=base.path) for one in images
        ]
        out = from_images(self.process_batch(images, contexts), kind)
        if not return_results:
            return out
        return out, (contexts if kind.is_batch else contexts[0])


def _template(ctx: RunContext | None, progress: Progress | None, cancel: CancelLike | None) -> RunContext:
    """The context a call copies for each image: the caller's (never modified) or a default one,
    with the call's progress and cancel hooks."""
    from dataclasses import replace

    from ..context import RunContext

    if ctx is None:
        from ..devices import resolve_device

        ctx = RunContext(device=resolve_device("auto"))
    if progress is not None or cancel is not None:
        ctx = replace(
            ctx,
            progress=progress if progress is not None else ctx.progress,
            cancel=cancel if cancel is not None else ctx.cancel,
        )
    return ctx
