"""Pipeline: an ordered list of stages plus output settings, callable on one image.

>>> from enhance import Pipeline
>>> pipe = Pipeline.from_yaml("pipelines.yaml", "restore-4k")   # validated before any image
>>> out = pipe("in.png")                                         # an enhance.Image
>>> pipe.run_file("in.png", "out/in.png")                        # read, process, write atomically

The image is uploaded to the pipeline's device once, every stage runs there, and it is quantized
and downloaded once at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_PIPELINE, OutputSpec, PipelineSpec, load_pipeline_spec
from .context import RunContext
from .stages.base import Stage

if TYPE_CHECKING:
    from .image import Image, Raster

__all__ = ["Pipeline", "RunContext"]


class Pipeline:
    """Ordered stages, an output spec and a device.

    Args:
        stages: Stage instances, run in order.
        output: how :meth:`run_file` and the batch runner write results.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; resolved at :meth:`setup`.
        seed: base seed for dither and grain (runs are deterministic by default).
        name: a label for messages and the manifest.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        output: OutputSpec | None = None,
        device: str = "auto",
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        for stage in stages:
            if not isinstance(stage, Stage):
                raise TypeError(f"Pipeline stages must be Stage instances, got {type(stage).__name__}")
        self.stages = list(stages)
        self.output = output or OutputSpec()
        self.device_spec = device
        self.seed = seed
        self.name = name
        self._context: RunContext | None = None

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.stages)
        return f"Pipeline([{inner}], device={self.device_spec!r}, name={self.name!r})"

    @classmethod
    def from_spec(cls, spec: PipelineSpec, *, device: str | None = None) -> Pipeline:
        """Build from a validated :class:`~enhance.config.PipelineSpec`."""
        from .stages.registry import get_stage

        stages = [get_stage(s.name)(s.params) for s in spec.stages]
        return cls(stages, output=spec.output, device=device or spec.device, seed=spec.seed, name=spec.name)

    @classmethod
    def from_yaml(
        cls,
        path: Path | str | None = None,
        name: str = DEFAULT_PIPELINE,
        *,
        overrides: Iterable[str] = (),
        device: str | None = None,
    ) -> Pipeline:
        """Load, validate and build the pipeline ``name`` from a pipelines file.

        ``path`` None uses the default file (see :func:`enhance.config.default_config_path`);
        ``overrides`` are ``--set`` style ``KEY=VALUE`` strings; ``device`` overrides the file's.
        """
        return cls.from_spec(load_pipeline_spec(path, name, overrides=overrides), device=device)

    # -- running ---------------------------------------------------------------------------------

    def setup(self) -> RunContext:
        """Resolve the device and let every stage prepare (load models) before any image.

        Raises:
            ConfigError: a device that doesn't exist, a missing model, ...: nothing was processed.
        """
        if self._context is None:
            from .devices import resolve_device

            context = RunContext(device=resolve_device(self.device_spec), seed=self.seed)
            for stage in self.stages:
                stage.ensure_setup(context)
            self._context = context
        return self._context

    @property
    def device(self) -> Any:
        """The resolved torch.device (resolving it on first use)."""
        return self.setup().device

    def process(self, image: Image, *, path: Path | None = None) -> tuple[Image, RunContext]:
        """Run every stage on ``image``; returns the result (on the device) and the image's context."""
        base = self.setup()
        image = image.to(base.device)
        ctx = base.for_image(source=image, path=path)
        for stage in self.stages:
            image = stage.process(image, ctx)
        return image, ctx

    def process_raster(self, raster: Raster, *, path: Path | None = None) -> tuple[Raster, Image, RunContext]:
        """Upload a decoded raster once, run the stages, quantize and download once.

        Returns the output raster (ready to encode), the float result on the device and the context.
        """
        from .image import from_image, to_image

        base = self.setup()
        result, ctx = self.process(to_image(raster, base.device), path=path)
        bit_depth, warning = self.output.bit_depth_for(path)
        if warning:
            ctx.warn(warning)
        out = from_image(result, bit_depth=bit_depth, dither=self.output.dither, seed=ctx.seed)
        return out, result, ctx

    def __call__(self, image: Any) -> Any:
        """Run on an Image, numpy array, PIL image, tensor or path; returns the same kind
        (an :class:`~enhance.image.Image` for a path)."""
        from .convert import coerce, restore_kind

        value, kind = coerce(image, self.device)
        path = Path(image) if isinstance(image, (str, Path)) else None
        result, _ = self.process(value, path=path)
        return restore_kind(result, kind)

    def run_file(self, source: Path | str, destination: Path | str) -> RunContext:
        """Read ``source``, run the pipeline, write ``destination`` atomically with the output spec."""
        from .io import decode, encode

        source, destination = Path(source), Path(destination)
        raster, _, ctx = self.process_raster(decode(source), path=source)
        encode(raster, destination, **self.output.encode_options(source))
        return ctx
