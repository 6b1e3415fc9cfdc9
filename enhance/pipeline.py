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
from typing import TYPE_CHECKING, Any, Literal

from .config import DEFAULT_PIPELINE, OutputSpec, PipelineSpec, load_pipeline_spec
from .context import RunContext
from .stages.base import Stage

if TYPE_CHECKING:
    from .context import CancelLike, Progress
    from .convert import Layout
    from .credentials.signing import ContentSigner, EditAction
    from .image import Image, Metadata, Raster

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
        self._signer: ContentSigner | None = None

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

    def process(self, image: Image, *, path: Path | None = None, defer_host: bool = False) -> tuple[Image, RunContext]:
        """Run every stage on ``image``; returns the result (on the device) and the image's context,
        whose ``timings`` hold each stage's own wall time (the device synchronised after each).

        ``defer_host``: stages may leave CPU-only work in ``ctx.host_work`` for the caller to run
        off the device thread (see :class:`~enhance.context.RunContext`).
        """
        from time import perf_counter

        from .devices import synchronize

        base = self.setup()
        image = image.to(base.device)
        ctx = base.for_image(source=image, path=path)
        if defer_host:
            ctx.host_work = []
        for stage in self.stages:
            ctx.raise_if_cancelled(f"pipeline {self.name or ''}".rstrip())
            start = perf_counter()
            image = stage.process(image, ctx)
            synchronize(base.device)
            ctx.timings[_timing_key(ctx.timings, stage.name)] = perf_counter() - start
        return image, ctx

    def process_raster(
        self, raster: Raster, *, path: Path | None = None, defer_host: bool = False
    ) -> tuple[Raster, Image, RunContext]:
        """Upload a decoded raster once, run the stages, quantize and download once.

        Returns the output raster (ready to encode), the float result on the device and the context
        (its ``timings``: ``upload``, each stage, ``download``, which includes quantizing).
        """
        from time import perf_counter

        from .devices import synchronize
        from .image import from_image, to_image

        base = self.setup()
        start = perf_counter()
        image = to_image(raster, base.device)
        synchronize(base.device)
        upload = perf_counter() - start
        result, ctx = self.process(image, path=path, defer_host=defer_host)
        start = perf_counter()
        bit_depth, warning = self.output.bit_depth_for(path)
        if warning:
            ctx.warn(warning)
        out = from_image(result, bit_depth=bit_depth, dither=self.output.dither, seed=ctx.seed)
        ctx.timings = {"upload": upload, **ctx.timings, "download": perf_counter() - start}
        return out, result, ctx

    def process_batch(self, images: Sequence[Image], contexts: Sequence[RunContext]) -> list[Image]:
        """Run every stage over several images (already on the device), stage by stage, so that a
        stage that batches (upscale) sees them together. Checks the contexts' ``cancel`` between
        stages."""
        images = list(images)
        for stage in self.stages:
            for ctx in contexts:
                ctx.raise_if_cancelled(f"pipeline {self.name or ''}".rstrip())
            images = stage.process_batch(images, contexts)
        return images

    def __call__(
        self,
        image: Any,
        *,
        layout: Layout | str | None = None,
        channel_order: Literal["rgb", "bgr"] | str = "rgb",
        return_results: bool = False,
        progress: Progress | None = None,
        cancel: CancelLike | None = None,
    ) -> Any:
        """Run on an Image, path, numpy array, PIL image or tensor (one image or a batch); returns
        the same kind, layout, dtype and device (an :class:`~enhance.image.Image` for a path).

        Each call works on fresh per-image contexts; ``return_results=True`` returns them too:
        ``(result, context)``, or ``(result, [context per image])`` for a batch. ``layout``,
        ``channel_order``, ``progress`` and ``cancel`` are as for :meth:`Stage.__call__
        <enhance.stages.base.Stage.__call__>`.
        """
        from dataclasses import replace

        from .convert import from_images, to_images

        base = self.setup()
        if progress is not None or cancel is not None:
            base = replace(base, progress=progress, cancel=cancel)
        images, kind = to_images(image, base.device, layout=layout, channel_order=channel_order)
        path = Path(image) if isinstance(image, (str, Path)) else None
        contexts = [base.for_image(source=one, path=path) for one in images]
        out = from_images(self.process_batch(images, contexts), kind)
        if not return_results:
            return out
        return out, (contexts if kind.is_batch else contexts[0])

    def run_file(self, source: Path | str, destination: Path | str) -> RunContext:
        """Read ``source``, run the pipeline, write ``destination`` atomically with the output spec."""
        from .io import decode

        source, destination = Path(source), Path(destination)
        self.signer()  # bad signing settings fail before the image is read
        raster, _, ctx = self.process_raster(decode(source), path=source)
        self.write_output(raster, source, destination)
        return ctx

    # -- writing, with content credentials ---------------------------------------------------------

    def signer(self) -> ContentSigner | None:
        """The output's content-credentials signer, checked and built once (None when the output
        spec has no ``content_credentials``).

        Raises:
            ConfigError: the certificate, key or settings will not sign (one line; exit 2).
        """
        if self._signer is None and self.output.content_credentials is not None:
            self._signer = self.output.signer()
        return self._signer

    def edit_actions(self) -> list[EditAction]:
        """What the stages do, as C2PA actions, for a signed output's manifest (stages that leave
        the pixels as they are, such as ``score``, are not listed)."""
        from .credentials.signing import EditAction

        return [
            EditAction(stage.c2pa_action, stage.name, stage.params.model_dump(mode="json"))
            for stage in self.stages
            if stage.c2pa_action
        ]

    def write_output(self, raster: Raster, source: Path, destination: Path) -> bytes:
        """Encode ``raster`` as the output spec says and write it atomically to ``destination``;
        signed with a new manifest (``source`` as its parent ingredient) when the spec has
        ``content_credentials``. Parent folders are created. Returns the bytes written (a runner
        reads the written PNG's own size off them instead of encoding the image again)."""
        from .files import atomic_write_bytes
        from .io import encode_bytes

        options = self.output.encode_options(source)
        signer = self.signer()
        if signer is None:
            from .io.encoding import _check_not_source  # the refusal io.encode makes (same inode too)

            _check_not_source(raster.meta.source, destination, False)
            data = encode_bytes(raster, **options)
            destination.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(destination, data)
            return data
        if destination.resolve() == source.resolve():
            raise ValueError(f"{destination}: is the input this image was read from; outputs never overwrite inputs")
        meta = raster.meta
        credentials = meta.content_credentials
        data = signer.sign(
            encode_bytes(raster, **options),
            str(options["format"]),
            source=source.read_bytes(),
            source_format=meta.format or "PNG",
            title=_title(destination),
            source_title=_title(source),
            actions=self.edit_actions(),
            digital_source_type=credentials.digital_source_type if credentials else None,
        )
        destination.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(destination, data)
        return data

    def credentials_record(self, meta: Metadata) -> dict[str, Any] | None:
        """What the record says of content credentials for an output of ``meta``'s source (None
        when the source had none and the output is not signed)."""
        from .credentials.signing import credentials_record

        return credentials_record(meta.content_credentials, self.signer(), self.edit_actions())


def _timing_key(timings: dict[str, float], name: str) -> str:
    """A stage's key in ``timings``: its name, ``name#2`` for the second stage of that name..."""
    if name not in timings:
        return name
    count = 2
    while f"{name}#{count}" in timings:
        count += 1
    return f"{name}#{count}"


def _title(path: Path) -> str:
    """A file name as text for a manifest (names that are not UTF-8 get replacement characters)."""
    import os

    return os.fsencode(path.name).decode("utf-8", errors="replace")
