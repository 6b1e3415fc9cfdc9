"""The ``upscale`` stage: Real-ESRGAN (or any spandrel model) super-resolution.

Two engines: ``spandrel`` (default) runs the model through :func:`enhance.ops.tiled_upscale`
(seamless feathered tiles, batched, fp16/bf16 on CUDA with an fp32 rerun of any tile that
overflows, out-of-memory fallback to smaller tiles); ``realesrgan`` runs upstream
``RealESRGANer`` (the reference; needs the ``realesrgan`` extra).

Around either engine the stage handles what upstream leaves to the caller:

* **gray** in is replicated to RGB for an RGB model and comes back as one channel (BT.601 luma);
  an RGB image through a one-channel model runs its three planes as a batch;
* **alpha** is kept. The colour of fully transparent pixels (often black) is replaced first by the
  alpha-weighted (premultiplied) average of the visible colour around it, filled in from coarse
  to fine (push-pull), so neither the model nor the final resize can pull that hidden colour into
  the edges as dark fringes; visible pixels keep their colour. Alpha itself goes through the
  model (``alpha: model``, as upstream does) or bicubic; an all-opaque alpha costs nothing.
* **precision**: ``auto`` is fp16 (else bf16) on CUDA when the model supports it, fp32 on CPU, and
  fp32 for 16-bit sources so that 16-bit precision survives the stage (fp32 is IEEE fp32: TF32 is
  turned off for the model's convolutions); nothing is quantized here;
* **bad output**: a model whose output is not finite (NaN/inf) or constant (flat within a
  fraction of one 8-bit code while the input visibly varies: a flat input may give a flat output)
  is rerun in fp32 if it ran in half precision; otherwise that file fails with one line naming the
  model (corrupt weights), and nothing is written;
* **size**: the model's native factor, or ``scale`` (any factor), ``size`` ``[w, h]`` or
  ``long_side``: the model output is then resized (antialiased) to exactly that, e.g. a x4 model
  followed by a downscale for 2K -> 4K. A native x2 model (``RealESRGAN_x2plus``) needs no resize.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..errors import ConfigError, InputError, quote
from .base import Stage, StageParams, TargetLongSide, TargetScale, TargetSize

if TYPE_CHECKING:
    import torch

    from ..context import RunContext
    from ..image import Image
    from ..ops.tiling import TileStats

__all__ = ["Upscale", "UpscaleParams", "DEFAULT_MODEL", "model_forward"]

#: the default model: fast (SRVGGNetCompact, 32 convs), general content, tunable denoise.
DEFAULT_MODEL = "realesr-general-x4v3"
_DENOISE_MODEL = "realesr-general-x4v3"


class UpscaleParams(StageParams):
    """Parameters of the ``upscale`` stage (see the module docstring)."""

    model: str = Field(DEFAULT_MODEL, description="zoo name (enhance models list) or path to a model file")
    engine: Literal["spandrel", "realesrgan"] = "spandrel"
    tile: Literal["auto"] | int = Field(
        "auto",
        description="side of each model pass in input pixels, context included; auto (from free memory); 0 = whole",
    )
    tile_overlap: int = Field(
        32,
        ge=0,
        description="context pixels around each tile, cropped away; tiles blend over half of it (realesrgan: tile_pad)",
    )
    batch: Literal["auto"] | int = Field("auto", description="tiles per forward pass")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    denoise_strength: float | None = Field(
        None, ge=0.0, le=1.0, description="realesr-general-x4v3 only: 0 keeps noise, 1 removes it (its default)"
    )
    alpha: Literal["model", "bicubic"] = "model"
    scale: TargetScale = None  # none of the three: the model's own factor
    size: TargetSize = None
    long_side: TargetLongSide = None
    resize_method: Literal["lanczos", "bicubic", "area", "matlab-bicubic"] = "lanczos"
    channels_last: bool = Field(True, description="NHWC tensors (faster with cuDNN and oneDNN alike)")
    min_tile: int = Field(32, ge=8, description="smallest tile tried after out-of-memory errors")
    compile: bool = Field(
        False, description="torch.compile the model (spandrel engine; falls back to eager if it fails)"
    )

    @model_validator(mode="after")
    def _check(self) -> UpscaleParams:
        if sum(v is not None for v in (self.scale, self.size, self.long_side)) > 1:
            raise ValueError("give at most one of scale, size and long_side")
        if isinstance(self.tile, int) and self.tile < 0:
            raise ValueError("tile must be 'auto', 0 (whole image) or a positive number of pixels")
        if isinstance(self.batch, int) and self.batch < 1:
            raise ValueError("batch must be 'auto' or at least 1")
        if self.denoise_strength is not None and _DENOISE_MODEL not in self.model.replace("\\", "/").rsplit("/", 1)[-1]:
            raise ValueError(f"denoise_strength works only with model {_DENOISE_MODEL}, not {quote(self.model)}")
        if self.engine == "realesrgan" and self.precision == "bf16":
            raise ValueError("engine realesrgan runs fp16 or fp32 only: use precision auto, fp16 or fp32")
        return self


#: an output whose values all lie within this (max - min, every channel) is flat: under a quarter
#: of one 8-bit code, so it would be written as at most two neighbouring grey levels
_FLAT_OUTPUT = 1.0 / 1024
#: ... which is wrong only if the input varies by more than this (a few codes: a visible image)
_VARIED_INPUT = 8.0 / 255


def _output_problem(planes: torch.Tensor, out: torch.Tensor) -> str | None:
    """What is wrong with one image's model output ``out`` for its input ``planes``, or None.

    ``not finite (NaN/inf)``, or ``constant`` where the input is not: a model turns an image with
    visible detail into one grey level only when its weights are broken (e.g. so large that every
    value clamps to black or white). A flat input may come out flat.
    """
    import torch

    if not bool(torch.isfinite(out.sum(dtype=torch.float64))):
        return _NOT_FINITE
    low, high = torch.aminmax(out)
    if float(high - low) < _FLAT_OUTPUT:
        low, high = torch.aminmax(planes)
        if float(high - low) > _VARIED_INPUT:
            return "constant (one flat colour from an input with detail)"
    return None


class _BadOutput(FloatingPointError):
    """The model's output is not finite or constant (see :func:`_output_problem`), in fp32 too."""


_NOT_FINITE = "not finite (NaN/inf)"


def _resize(x: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """Resize ``[C,H,W]`` to ``size`` = (h, w) with :func:`enhance.ops.resize`, clamped (Lanczos rings)."""
    from ..ops.resampling import resize

    return resize(x, size=size, method=method).clamp_(0.0, 1.0)


def _bleed(colour: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``colour`` with fully transparent pixels set to the alpha-weighted colour around them.

    Push-pull: alpha-weighted (premultiplied) averages are pooled down a pyramid, then each level
    is completed from the coarser one where its coverage is low. Visible pixels are unchanged.
    """
    import torch
    import torch.nn.functional as F

    weights, sums = [alpha[None]], [(colour * alpha)[None]]
    while max(weights[-1].shape[-2:]) > 1:
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
        sums.append(F.avg_pool2d(sums[-1], 2, ceil_mode=True))
    estimate = sums[-1] / weights[-1].clamp_min(1e-12)
    for w, p in zip(reversed(weights[:-1]), reversed(sums[:-1]), strict=True):
        coarse = F.interpolate(estimate, size=w.shape[-2:], mode="bilinear", align_corners=False)
        gap = (1.0 - w).clamp_(0.0, 1.0)
        estimate = (p + coarse * gap) / (w + gap).clamp_min(1e-12)
    return torch.where(alpha > 0, colour, estimate[0].clamp_(0.0, 1.0))


def model_forward(descriptor: Any) -> Any:
    """The model's forward without spandrel's ``__call__`` wrapper: ``[B,C,h,w] -> [B,C,h*s,w*s]``.

    The wrapper clamps to [0, 1], which turns an fp16 overflow (+Inf) into plausible white and
    hides it from the NaN/Inf check, and pads every call, which the tiler already does once.
    Models with a custom call (a few architectures) keep it: every spandrel image model carries
    its call function (``_call_fn``, set for all of them since spandrel 0.1; enhance needs 0.4).
    """
    return _BoundCall(descriptor._call_fn, descriptor.model)


class _BoundCall:
    """spandrel's call function bound to its model. It exposes the model's ``modules()`` so that
    the CPU memory estimate can hook every layer (a bare lambda hid them: the estimate then saw
    only the output, 12x too low for RRDBNet)."""

    def __init__(self, call: Any, model: Any) -> None:
        self._call, self._model = call, model

    def __call__(self, t: Any) -> Any:
        return self._call(self._model, t)

    def modules(self) -> Any:
        return self._model.modules()


class Upscale(Stage):
    """Super-resolve with Real-ESRGAN or any spandrel model; seamless tiles, alpha and gray kept."""

    name = "upscale"
    description = "Real-ESRGAN super-resolution (any spandrel model): seamless tiles, fp16 on CUDA, alpha kept"
    Params = UpscaleParams
    params: UpscaleParams

    def __init__(
        self,
        params: StageParams | Mapping[str, Any] | None = None,
        /,
        *,
        model_call: Callable[[Any], Callable[[torch.Tensor], torch.Tensor]] | None = None,
        model_scale: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Parameters as in :class:`UpscaleParams`; ``model`` may also be a model already loaded:

        * a spandrel ``ImageModelDescriptor`` (ComfyUI's UPSCALE_MODEL is one), or
        * a ``torch.nn.Module``: described by spandrel when it recognises the weights, else it
          needs ``model_scale`` (its upscale factor); see :func:`enhance.models.load.as_descriptor`.

        Such an object is kept apart from the parameters (which stay what a pipelines file can
        say: ``params.model`` names it for messages), used as it is when it already sits on the
        device in the dtype the stage computes in, and copied otherwise: the caller's model is
        never moved, cast or switched to eval mode. It is not put in the model cache.

        ``model_call`` turns a loaded spandrel model into the forward function the tiler runs
        (default :func:`model_forward`): the place to wrap it (count, profile, compile) or to stand
        in for it. The ``realesrgan`` engine runs upstream's code and does not use it.
        """
        given: Any = None
        for source in (dict(params) if isinstance(params, Mapping) else {}, kwargs):
            model = source.get("model")
            if isinstance(model, PathLike):
                kwargs["model"] = str(model)
            elif model is not None and not isinstance(model, str):
                given = model
                kwargs["model"] = _label(model)
        if isinstance(params, Mapping):
            params = {k: v for k, v in params.items() if k != "model" or "model" not in kwargs}
        super().__init__(params, **kwargs)
        self._model_call = model_call or model_forward
        self._given = given
        self._model_scale = model_scale
        if given is None and model_scale is not None:
            raise ConfigError("model_scale is for a torch.nn.Module given as model; a model file says its own scale")

    # -- setup -----------------------------------------------------------------------------------

    def setup(self, ctx: RunContext) -> None:
        """Resolve (downloading if needed) and load the model once; ConfigError if it cannot be."""
        import torch

        p = self.params
        self._device = torch.device(ctx.device)
        self._channels_last = p.channels_last
        self._bpp: dict[Any, float] = {}
        self._reference: dict[Any, Any] = {}
        self._copies: dict[Any, Any] = {}
        self._calls: dict[Any, Any] = {}
        self._dni: tuple[Any, float] | None = None
        if self._given is not None:
            from ..models.load import as_descriptor, describe

            if p.engine == "realesrgan":
                raise ConfigError("engine realesrgan loads model files only: use engine spandrel with a loaded model")
            self._path = None
            self._descriptor = as_descriptor(self._given, scale=self._model_scale)
            self._info = describe(self._descriptor)
        else:
            self._setup_file()
        info = self._info
        if info.input_channels not in (1, 3) or info.output_channels != info.input_channels:
            raise ConfigError(
                f"model {p.model}: {info.input_channels} input / {info.output_channels} output channels; "
                "upscale needs a 1- or 3-channel image model"
            )
        if p.engine == "realesrgan":
            if info.input_channels != 3:
                raise ConfigError(f"model {p.model}: engine realesrgan needs an RGB model; use engine: spandrel")
            self._reference_for(self._dtype(8))
        else:
            self._load(self._dtype(8))

    def _setup_file(self) -> None:
        """Resolve the model file (and a denoise twin) and describe it from a cached CPU copy."""
        from ..models.fetch import resolve_model, trusted_file
        from ..models.load import describe, load_model
        from ..models.zoo import ZOO

        p = self.params
        self._path = resolve_model(p.model)
        if p.denoise_strength is not None and p.denoise_strength < 1.0:
            partner = ZOO[_DENOISE_MODEL].denoise_partner
            assert partner is not None
            # the twin beside the main file first (as upstream pairs them), else the usual search;
            # either way it must pass the same sha256 check as any zoo file
            sibling = self._path.with_name(ZOO[partner].filename)
            twin = trusted_file(ZOO[partner], sibling) if sibling.is_file() else resolve_model(partner)
            self._dni = (twin, p.denoise_strength)
        # what the model is, from a CPU copy (shared with the CPU engine through the loader's cache)
        cpu_copy = load_model(self._path, device="cpu", channels_last=self._channels_last, interpolate_with=self._dni)
        self._info = describe(cpu_copy, self._path)

    def _dtype(self, bit_depth: int) -> torch.dtype:
        import torch

        from ..devices import compute_dtype

        p = self.params
        if p.precision == "auto" and bit_depth > 8:
            return torch.float32
        half = self._info.supports_half
        bf16 = self._info.supports_bfloat16 and self.params.engine == "spandrel"
        return compute_dtype(self._device, fp16=half, bf16=bf16, precision=p.precision)

    def _load(self, dtype: torch.dtype) -> Any:
        if self._path is None:
            return self._given_on_device(dtype)
        from ..models.load import load_model

        return load_model(
            self._path, device=self._device, dtype=dtype, channels_last=self._channels_last,
            interpolate_with=self._dni,
        )  # fmt: skip

    def _given_on_device(self, dtype: torch.dtype) -> Any:
        """The caller's model on the stage's device in ``dtype``: itself when it already is (and in
        eval mode), else a copy made once per dtype; the caller's object is never changed."""
        import copy

        import torch
        from spandrel import UnsupportedDtypeError

        descriptor = self._descriptor
        first = next(iter(descriptor.model.parameters()), None)
        if first is None or (first.device == self._device and first.dtype == dtype and not descriptor.model.training):
            return descriptor
        if dtype not in self._copies:
            twin = copy.deepcopy(descriptor)
            try:
                twin.to(self._device).to(dtype)
            except UnsupportedDtypeError:
                raise ConfigError(f"model {self.params.model} cannot run in {dtype}: use precision fp32") from None
            twin.eval()
            twin.model.requires_grad_(False)
            if self._channels_last:
                twin.model.to(memory_format=torch.channels_last)
            self._copies[dtype] = twin
        return self._copies[dtype]

    def _reference_for(self, dtype: torch.dtype) -> Any:
        import torch

        from ..models.reference import ReferenceUpscaler

        if dtype not in self._reference:
            p = self.params
            self._reference[dtype] = ReferenceUpscaler(
                self._path, device=self._device, half=dtype == torch.float16,
                tile=p.tile if isinstance(p.tile, int) else 0, tile_pad=p.tile_overlap, interpolate_with=self._dni,
            )  # fmt: skip
        return self._reference[dtype]

    # -- images ----------------------------------------------------------------------------------

    def _runner(self, dtype: torch.dtype, stats: TileStats, warn: Any, ctx: RunContext | None = None) -> Any:
        """A callable ``[C_model,H,W]`` (or ``[N,C_model,H,W]``, spandrel engine) ``-> ...*s`` float32
        for the chosen engine; ``ctx`` brings the caller's progress and cancel hooks."""
        import torch

        from ..ops.tiling import estimate_bytes_per_pixel, tiled_upscale

        p = self.params
        if p.engine == "realesrgan":
            return self._reference_for(dtype)
        descriptor = self._load(dtype)
        call = self._call(dtype)
        fallback = None
        if dtype != torch.float32:

            def fallback(t: torch.Tensor) -> torch.Tensor:  # loaded only if a tile ever overflows
                return self._call(torch.float32)(t)

        if (p.tile == "auto" or p.batch == "auto") and dtype not in self._bpp:
            self._bpp[dtype] = estimate_bytes_per_pixel(
                self._model_call(descriptor), descriptor.input_channels, device=self._device, dtype=dtype,
                size_requirements=descriptor.size_requirements, probe=128 if self._device.type == "cuda" else 64,
            )  # fmt: skip

        def run(planes: torch.Tensor) -> torch.Tensor:
            return tiled_upscale(
                planes, call, descriptor.scale, tile=p.tile, overlap=p.tile_overlap, batch=p.batch,
                size_requirements=descriptor.size_requirements, dtype=dtype, fallback=fallback,
                channels_last=self._channels_last, min_tile=p.min_tile, bytes_per_pixel=self._bpp.get(dtype),
                warn=warn, stats=stats, progress=None if ctx is None else ctx.progress,
                cancel=None if ctx is None else ctx.cancel,
            )  # fmt: skip

        return run

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self._target(height, width)

    def _call(self, dtype: torch.dtype) -> Any:
        """The forward the tiler runs in ``dtype``: made once per dtype and reused for every image
        (one loaded model per device and dtype, one compilation)."""
        call = self._calls.get(dtype)
        if call is None:
            call = self._model_call(self._load(dtype))
            if self.params.compile:
                from ..models.compiled import compile_forward

                call = compile_forward(call)
            self._calls[dtype] = call
        return call

    def _target(self, height: int, width: int) -> tuple[int, int]:
        """Output (h, w)."""
        from ..ops.resampling import target_size

        p, s = self.params, self._info.scale
        if p.size is not None:
            return p.size[1], p.size[0]
        if p.long_side is not None or p.scale is not None:  # rounded like the resize stage
            return target_size((height, width), long_side=p.long_side, scale=p.scale)
        return height * s, width * s

    @staticmethod
    def _warner(contexts: Sequence[RunContext]) -> Callable[[str], None]:
        """One ``warn`` for the tiler: each message once, to every image it concerns."""
        warned: list[str] = []

        def warn(message: str) -> None:
            if message not in warned:
                warned.append(message)
                for ctx in contexts:
                    ctx.warn(f"upscale: {message}")

        return warn

    def _batchable(self, images: Sequence[Image]) -> bool:
        """Whether ``images`` can share forward passes: the spandrel engine, one size, the model's
        channel count, no visible transparency, one compute dtype."""
        if len(images) < 2 or self.params.engine != "spandrel":
            return False
        first = images[0]
        return all(
            im.pixels.shape == first.pixels.shape
            and im.channels == self._info.input_channels
            and (im.alpha is None or bool((im.alpha >= 1.0).all()))
            and self._dtype(im.meta.bit_depth) == self._dtype(first.meta.bit_depth)
            for im in images
        )

    def process_batch(self, images: Sequence[Image], contexts: Sequence[RunContext]) -> list[Image]:
        """Equal-sized opaque images share forward passes (their tiles are batched together);
        others go one by one. Each image's result is the one it gets alone (up to float rounding
        when tiles of several images share a pass)."""
        import torch

        from ..ops.tiling import NonFiniteOutput, TileStats

        if not self._batchable(images):
            return super().process_batch(images, contexts)
        dtype = self._dtype(images[0].meta.bit_depth)
        stats = TileStats()
        engine = self._runner(dtype, stats, self._warner(contexts), contexts[0])
        stacked = torch.stack([im.pixels for im in images])
        try:
            out = engine(stacked)
        except NonFiniteOutput:
            out = None
        except (MemoryError, FloatingPointError) as exc:
            raise InputError(f"upscale failed: {exc}") from None
        if out is None or any(_output_problem(stacked[i], out[i]) for i in range(len(images))):
            # one by one: each image is checked (and rerun in fp32) alone, and fails alone
            return super().process_batch(images, contexts)
        results = []
        for i, (image, ctx) in enumerate(zip(images, contexts, strict=True)):
            alpha = None if image.alpha is None else torch.ones_like(out[i, :1])
            results.append(self._finish(image, out[i], alpha, ctx, dtype, stats))
        return results

    def process(self, image: Image, ctx: RunContext) -> Image:
        import torch

        from ..ops.color import luma
        from ..ops.tiling import NonFiniteOutput, TileStats

        p = self.params
        dtype = self._dtype(image.meta.bit_depth)
        stats = TileStats()
        warn = self._warner([ctx])
        engines = {dtype: self._runner(dtype, stats, warn, ctx)}
        model_channels = self._info.input_channels

        def engine(planes: torch.Tensor) -> torch.Tensor:
            """The model over ``planes``, its output checked; in half precision a bad output is
            computed again in fp32 before the file is given up."""
            used = dtype
            try:
                out = engines[used](planes)
                problem = _output_problem(planes, out)
            except NonFiniteOutput as exc:
                if used == torch.float32 or p.engine == "spandrel":  # the tiler already reran in fp32
                    raise _BadOutput(_NOT_FINITE) from exc
                problem = _NOT_FINITE
            if problem is not None and used != torch.float32:
                name = str(used).removeprefix("torch.")
                warn(f"the model's output was {problem.split(' (')[0]} in {name}; rerun in fp32")
                used = torch.float32
                if used not in engines:
                    engines[used] = self._runner(used, stats, warn, ctx)
                stats.fp32_reruns += max(stats.tiles, 1)
                try:
                    out = engines[used](planes)
                except NonFiniteOutput as exc:
                    raise _BadOutput(_NOT_FINITE) from exc
                problem = _output_problem(planes, out)
            if problem is not None:
                raise _BadOutput(problem)
            return out

        def run(planes: torch.Tensor) -> torch.Tensor:
            """Any 1- or 3-channel planes through the model, back in the same channel count."""
            c = planes.shape[0]
            if c == model_channels:
                return engine(planes)
            if c == 1:  # gray through an RGB model
                return luma(engine(planes.expand(3, -1, -1))).clamp_(0.0, 1.0)
            return torch.cat([engine(planes[i : i + 1]) for i in range(c)])  # RGB through a gray model

        x = image.pixels
        alpha = image.alpha
        try:
            if alpha is None or bool((alpha >= 1.0).all()):
                out = run(x)
                out_alpha = None if alpha is None else torch.ones_like(out[:1])
            else:
                out = run(_bleed(x, alpha))
                if p.alpha == "model":
                    out_alpha = run(alpha)
                else:
                    import torch.nn.functional as F

                    out_alpha = F.interpolate(alpha[None], size=out.shape[-2:], mode="bicubic", align_corners=False)[0]
                    out_alpha = out_alpha.clamp_(0.0, 1.0)
        except _BadOutput as exc:
            where = f"{ctx.path}: " if ctx.path else ""
            raise InputError(
                f"{where}upscale: model output is {exc}: the weights may be corrupt; check {p.model}"
            ) from None
        except (MemoryError, FloatingPointError) as exc:
            where = f"{ctx.path}: " if ctx.path else ""
            raise InputError(f"{where}upscale failed: {exc}") from None
        return self._finish(image, out, out_alpha, ctx, dtype, stats)

    def _finish(
        self,
        image: Image,
        out: torch.Tensor,
        out_alpha: torch.Tensor | None,
        ctx: RunContext,
        dtype: torch.dtype,
        stats: TileStats,
    ) -> Image:
        """Resize the model's output to the target size and record what was done in ``ctx``."""
        p = self.params
        target = self._target(image.height, image.width)
        if tuple(out.shape[-2:]) != target:
            out = _resize(out, target, p.resize_method)
            if out_alpha is not None:
                out_alpha = _resize(out_alpha, target, p.resize_method)
        ctx.results["upscale"] = {
            "model": p.model,
            "engine": p.engine,
            "native_scale": self._info.scale,
            "tile": stats.tile if p.engine == "spandrel" else (p.tile if isinstance(p.tile, int) else 0),
            "overlap": stats.overlap if p.engine == "spandrel" else p.tile_overlap,
            "batch": stats.batch,
            "dtype": str(dtype).removeprefix("torch."),
            "fp32_reruns": stats.fp32_reruns,
            "compiled": bool(getattr(self._calls.get(dtype), "active", False)),
            "oom_retries": stats.oom_retries,
            "output_size": [int(out.shape[-1]), int(out.shape[-2])],
        }
        return image.replace(pixels=out.contiguous(), alpha=None if out_alpha is None else out_alpha.contiguous())


def _label(model: Any) -> str:
    """How a model given as an object is named in parameters and messages."""
    arch = getattr(getattr(model, "architecture", None), "name", None)
    scale = getattr(model, "scale", None)
    if arch is not None and scale is not None:
        return f"<loaded {arch} x{scale}>"
    return f"<loaded {type(model).__name__}>"
