"""ComfyUI nodes over enhance's stages and pipelines.

Each node follows ComfyUI's node interface: a class with ``INPUT_TYPES()`` (``required`` and
``optional`` inputs, widgets with their defaults and bounds), ``RETURN_TYPES`` (and
``RETURN_NAMES``), ``FUNCTION`` (the method ComfyUI calls with the inputs as keyword arguments),
``CATEGORY``, and ``OUTPUT_NODE`` for a node whose result is shown. ComfyUI's IMAGE is a float32
``[B,H,W,C]`` tensor in [0, 1] on the CPU, and its UPSCALE_MODEL is a spandrel
``ImageModelDescriptor``; the nodes take them as they are (``layout="BHWC"``) and hand back the same.

Work runs on ComfyUI's device (its ``comfy.model_management``) when the nodes run inside ComfyUI,
else on the best device there is. Inside ComfyUI the tiled upscale also drives ComfyUI's progress
bar and stops when the user presses Cancel. Nothing heavy is imported here: torch and the models
load when a node first runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from enhance.context import RunContext

__all__ = [
    "EnhanceDeband",
    "EnhanceResize",
    "EnhanceUpscale",
    "EnhanceScore",
    "EnhancePipeline",
    "NODE_CLASS_MAPPINGS",
    "NODE_DISPLAY_NAME_MAPPINGS",
]

CATEGORY = "enhance"
IMAGE = ("IMAGE", {"tooltip": "ComfyUI image batch: float [B,H,W,C] in 0..1"})
SEED_MAX = 2**63 - 1


def _device_spec() -> str:
    """ComfyUI's compute device when running inside ComfyUI, else ``auto``."""
    try:
        from comfy import model_management  # type: ignore[import-not-found]
    except ImportError:
        return "auto"
    return str(model_management.get_torch_device())


def _hooks() -> tuple[Any, Any]:
    """``(progress, cancel)`` wired to ComfyUI's progress bar and Cancel button; ``(None, None)``
    outside ComfyUI."""
    try:
        import comfy.utils  # type: ignore[import-not-found]
        from comfy import model_management  # type: ignore[import-not-found]
    except ImportError:
        return None, None
    bars: dict[int, Any] = {}

    def progress(done: int, total: int) -> None:
        bar = bars.get(total) or bars.setdefault(total, comfy.utils.ProgressBar(total))
        bar.update_absolute(done, total)

    return progress, model_management.processing_interrupted


def _context(**fields: Any) -> RunContext:
    from enhance.context import RunContext
    from enhance.devices import resolve_device

    progress, cancel = _hooks()
    return RunContext(device=resolve_device(_device_spec()), progress=progress, cancel=cancel, **fields)


def _run(call: Any) -> Any:
    """Run ``call()``; a cancel from ComfyUI's button becomes ComfyUI's own interruption."""
    from enhance.errors import Cancelled

    try:
        return call()
    except Cancelled:
        try:
            from comfy import model_management  # type: ignore[import-not-found]
        except ImportError:
            raise
        model_management.throw_exception_if_processing_interrupted()
        raise


def _report(contexts: list[RunContext], keys: tuple[str, ...] | None = None) -> str:
    """What the stages reported, one entry per image of the batch, as JSON text."""
    entries = []
    for ctx in contexts:
        results = ctx.results if keys is None else {k: v for k, v in ctx.results.items() if k in keys}
        entries.append({**results, **({"warnings": ctx.warnings} if ctx.warnings else {})})
    return json.dumps(entries, indent=1, sort_keys=True)


def _target_size(mode: str, long_side: int, scale: float, width: int, height: int) -> dict[str, Any]:
    """The target parameters of resize/upscale for the node's ``mode`` widget."""
    if mode == "long_side":
        return {"long_side": long_side}
    if mode == "scale":
        return {"scale": scale}
    if mode == "size":
        return {"size": [width, height]}
    if mode == "width":
        return {"width": width}
    if mode == "height":
        return {"height": height}
    return {}


class EnhanceDeband:
    """Remove gradient banding (skies, skin, soft backgrounds) without touching texture."""

    DESCRIPTION = "Remove gradient banding (skies, skin, soft backgrounds) without touching texture."
    CATEGORY = CATEGORY
    FUNCTION = "deband"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from enhance.ops.debanding import CHANNELS, GRAIN, ITERATIONS, RADIUS, THRESHOLD

        return {
            "required": {
                "image": IMAGE,
                "threshold": ("FLOAT", {
                    "default": THRESHOLD.default, "min": 0.5, "max": THRESHOLD.high, "step": 0.5,
                    "tooltip": "largest step smoothed, in 8-bit codes; 2-4 keeps cel shading",
                }),
                "radius": ("INT", {"default": int(RADIUS.default), "min": int(RADIUS.low), "max": int(RADIUS.high)}),
                "iterations": ("INT", {
                    "default": int(ITERATIONS.default), "min": int(ITERATIONS.low), "max": int(ITERATIONS.high),
                }),
                "grain": ("FLOAT", {"default": GRAIN.default, "min": GRAIN.low, "max": GRAIN.high, "step": 0.1}),
                "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX}),
                "channels": (list(CHANNELS), {"default": "all"}),
            }
        }  # fmt: skip

    def deband(
        self,
        image: torch.Tensor,
        threshold: float,
        radius: int,
        iterations: int,
        grain: float,
        seed: int,
        channels: str,
    ) -> tuple[torch.Tensor]:
        from enhance.stages.deband import Deband

        stage = Deband(
            threshold=threshold, radius=radius, iterations=iterations, grain=grain, seed=seed, channels=channels
        )
        return (_run(lambda: stage(image, _context(), layout="BHWC")),)


class EnhanceResize:
    """Resize to a long side, a scale, an exact size, a width or a height."""

    DESCRIPTION = "Resize (area, lanczos, bicubic, MATLAB bicubic), alpha-aware, optionally in linear light."
    CATEGORY = CATEGORY
    FUNCTION = "resize"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from enhance.ops.resampling import METHODS

        return {
            "required": {
                "image": IMAGE,
                "mode": (["long_side", "scale", "size", "width", "height"], {"default": "long_side"}),
                "long_side": ("INT", {"default": 2048, "min": 1, "max": 65536}),
                "scale": ("FLOAT", {"default": 0.5, "min": 0.01, "max": 64.0, "step": 0.01}),
                "width": ("INT", {"default": 2048, "min": 1, "max": 65536}),
                "height": ("INT", {"default": 2048, "min": 1, "max": 65536}),
                "method": (list(METHODS), {"default": "lanczos"}),
                "linear_light": ("BOOLEAN", {"default": False}),
                "only": (["always", "down", "up"], {"default": "always"}),
            }
        }

    def resize(
        self,
        image: torch.Tensor,
        mode: str,
        long_side: int,
        scale: float,
        width: int,
        height: int,
        method: str,
        linear_light: bool,
        only: str,
    ) -> tuple[torch.Tensor]:
        from enhance.stages.resize import Resize

        target = _target_size(mode, long_side, scale, width, height)
        stage = Resize(**target, method=method, linear_light=linear_light, only=only)
        return (_run(lambda: stage(image, _context(), layout="BHWC")),)


class EnhanceUpscale:
    """Super-resolve with a zoo model, a model file, or ComfyUI's loaded UPSCALE_MODEL."""

    DESCRIPTION = (
        "Real-ESRGAN (any spandrel model) with seamless tiles sized from free memory, fp16 on CUDA with an fp32 "
        "rerun of any overflowing tile. Connect an UPSCALE_MODEL, or name a zoo model or a model file."
    )
    CATEGORY = CATEGORY
    FUNCTION = "upscale"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from enhance.stages.upscale import DEFAULT_MODEL

        return {
            "required": {
                "image": IMAGE,
                "model": ("STRING", {
                    "default": DEFAULT_MODEL,
                    "tooltip": "zoo name (enhance models list) or model file; unused when upscale_model is connected",
                }),
                "tile": ("INT", {
                    "default": 0, "min": 0, "max": 8192, "step": 8,
                    "tooltip": "tile side in input pixels; 0 = auto (the whole image when it fits in memory)",
                }),
                "precision": (["auto", "fp32", "fp16", "bf16"], {"default": "auto"}),
                "long_side": ("INT", {
                    "default": 0, "min": 0, "max": 65536,
                    "tooltip": "resize the result to this long side; 0 = the model's own scale",
                }),
            },
            "optional": {
                "upscale_model": ("UPSCALE_MODEL", {"tooltip": "a model from Load Upscale Model"}),
            },
        }  # fmt: skip

    def upscale(
        self,
        image: torch.Tensor,
        model: str,
        tile: int,
        precision: str,
        long_side: int,
        upscale_model: Any = None,
    ) -> tuple[torch.Tensor]:
        from enhance.stages.upscale import Upscale

        params: dict[str, Any] = {"tile": tile or "auto", "precision": precision}
        if long_side:
            params["long_side"] = long_side
        stage = Upscale(model=upscale_model if upscale_model is not None else model.strip(), **params)
        return (_run(lambda: stage(image, _context(), layout="BHWC")),)


class EnhanceScore:
    """Score before/after with no-reference metrics; the scores come out as JSON text."""

    DESCRIPTION = (
        "Before/after metrics (sharpness, entropy, PNG bits/px, banding...) of each image of the batch, as JSON: "
        "'before' is the optional before image (else the image itself)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "score"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "scores")
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": IMAGE,
                "metrics": ("STRING", {
                    "default": "", "tooltip": "comma-separated metric names; empty = every one that needs no extra",
                }),
                "at": (["output", "input", "native"], {"default": "output"}),
            },
            "optional": {
                "before": ("IMAGE", {"tooltip": "the image before processing (one, or one per image of the batch)"}),
            },
        }  # fmt: skip

    def score(self, image: torch.Tensor, metrics: str, at: str, before: torch.Tensor | None = None) -> dict[str, Any]:
        from enhance.convert import coerce
        from enhance.errors import ConfigError
        from enhance.stages.score import Score

        stage = Score(metrics=metrics or None, at=at)
        if before is not None and before.shape[0] not in (1, image.shape[0]):
            raise ConfigError(
                f"enhance Score: 'before' holds {before.shape[0]} images and 'image' {image.shape[0]}: give one "
                "before image, or one per image"
            )

        def run() -> tuple[torch.Tensor, list[RunContext]]:
            if before is None:
                return stage(image, _context(), layout="BHWC", return_results=True)
            contexts = []
            for i in range(image.shape[0]):
                ctx = _context()
                source, _ = coerce(before[min(i, before.shape[0] - 1)][None], ctx.device, layout="BHWC")
                _, one = stage(image[i][None], _context(source=source), layout="BHWC", return_results=True)
                contexts.extend(one)
            return image, contexts

        out, contexts = _run(run)
        text = _report(contexts, ("scores", "scores_at"))
        return {"ui": {"text": [text]}, "result": (out, text)}


class EnhancePipeline:
    """Run a named pipeline from a pipelines YAML file on the batch."""

    DESCRIPTION = (
        "Run a named pipeline from a pipelines.yaml (empty config: the usual search, see enhance's README), with "
        "--set style overrides, one KEY=VALUE per line. Returns the images and what each stage reported, as JSON."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "results")

    def __init__(self) -> None:
        # ComfyUI keeps one node object per graph node: the built pipeline (and its models) is kept
        # for the next run with the same settings
        self._built: tuple[tuple[Any, ...], Any] | None = None

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from enhance.config import DEFAULT_PIPELINE

        return {
            "required": {
                "image": IMAGE,
                "config": ("STRING", {"default": "", "tooltip": "path to a pipelines.yaml; empty = the default one"}),
                "pipeline": ("STRING", {"default": DEFAULT_PIPELINE}),
                "overrides": ("STRING", {
                    "default": "", "multiline": True,
                    "tooltip": "one KEY=VALUE per line, as enhance run --set: upscale.long_side=2048, device=cpu",
                }),
            }
        }  # fmt: skip

    def _pipeline(self, config: str, pipeline: str, overrides: list[str]) -> Any:
        from enhance.pipeline import Pipeline

        # a device=... override wins over ComfyUI's device
        device = None if any(o.partition("=")[0].strip() == "device" for o in overrides) else _device_spec()
        key = (config, pipeline, tuple(overrides), device)
        if self._built is None or self._built[0] != key:
            built = Pipeline.from_yaml(config.strip() or None, pipeline.strip(), overrides=overrides, device=device)
            built.setup()  # models load (and bad settings fail) before any image
            self._built = (key, built)
        return self._built[1]

    def run(self, image: torch.Tensor, config: str, pipeline: str, overrides: str) -> tuple[torch.Tensor, str]:
        lines = [line.strip() for line in overrides.splitlines()]
        pipe = self._pipeline(config, pipeline, [line for line in lines if line and not line.startswith("#")])
        progress, cancel = _hooks()
        out, contexts = _run(lambda: pipe(image, layout="BHWC", return_results=True, progress=progress, cancel=cancel))
        return out, _report(contexts)


#: what ComfyUI registers: node type name -> class
NODE_CLASS_MAPPINGS: dict[str, type] = {
    "EnhanceDeband": EnhanceDeband,
    "EnhanceResize": EnhanceResize,
    "EnhanceUpscale": EnhanceUpscale,
    "EnhanceScore": EnhanceScore,
    "EnhancePipeline": EnhancePipeline,
}

#: the names ComfyUI shows
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "EnhanceDeband": "enhance Deband",
    "EnhanceResize": "enhance Resize",
    "EnhanceUpscale": "enhance Upscale",
    "EnhanceScore": "enhance Score",
    "EnhancePipeline": "Run enhance pipeline",
}
