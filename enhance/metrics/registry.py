"""Metric registry: each metric's name, kind, direction, devices and where its code lives.

Metrics are listed by import path so that naming, listing and validating them never imports torch;
the function loads on first use. Third-party code adds one with :func:`register_metric`.

Conventions every metric function follows:

* no-reference: ``fn(x) -> float`` where ``x`` is an :class:`~enhance.image.Image` or a
  ``[C,H,W]`` float tensor in [0,1] (sRGB-encoded, C = 1 or 3) on any device;
* full-reference: ``fn(x, reference, *, crop_border=0) -> float`` on two same-size images.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError, quote

if TYPE_CHECKING:
    import torch

    from ..image import Image

__all__ = [
    "Metric",
    "MetricKind",
    "register_metric",
    "get_metric",
    "list_metrics",
    "metric_names",
    "default_metrics",
    "validate_metrics",
    "compute",
    "compute_each",
]

MetricKind = Literal["no-reference", "full-reference"]

_EXTRA_HINT = "install it with: uv sync --extra realesrgan (or pip install 'enhance[realesrgan]')"


@dataclass(frozen=True)
class Metric:
    """What the registry knows about one metric.

    Attributes:
        name: the key used on the command line, in pipelines and in reports.
        kind: ``no-reference`` (one image) or ``full-reference`` (image against a reference).
        higher_is_better: the direction in which the metric improves.
        fn: ``"module:function"`` of the implementation (imported on first use).
        description: one line for ``enhance score --list`` and the report.
        devices: device types it takes images on; other devices' images are moved to the first.
        scale_invariant: whether values of the same scene at different sizes are comparable
            (resolution-normalised); size-dependent metrics are compared at a common size.
        requires: the module that must be importable besides enhance (e.g. ``basicsr``), if any.
        unit: for labels (``dB``, ``bits``...); empty when unitless.
        resolution: the smallest difference that means something (numeric noise below it), in
            the metric's unit. ``enhance pick --weights`` ignores a metric whose spread within a
            group is below it, instead of blowing noise up to a full z-score; 0 = no floor.
    """

    name: str
    kind: MetricKind
    higher_is_better: bool
    fn: str
    description: str
    devices: tuple[str, ...] = ("cpu", "cuda")
    scale_invariant: bool = False
    requires: str | None = None
    unit: str = ""
    resolution: float = 0.0

    @property
    def module(self) -> str:
        return self.fn.partition(":")[0]

    def available(self) -> bool:
        """Whether its module (and its extra) can be imported here, without importing them."""
        return self.why_unavailable() is None

    def why_unavailable(self) -> str | None:
        """None when the metric can be used here, else a one-line reason with what to do."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"metric '{self.name}' needs the Python package '{self.requires}': {_EXTRA_HINT}"
        if self.module in sys.modules:
            return None
        try:
            found = importlib.util.find_spec(self.module)
        except (ModuleNotFoundError, ValueError):  # ValueError: a parent has no import spec
            found = None
        if found is None:
            return f"metric '{self.name}' is not available in this version of enhance ({self.module} is missing)"
        return None

    def load(self) -> Callable[..., float]:
        """The metric function.

        Raises:
            ConfigError: its module or the extra it needs is not installed.
        """
        reason = self.why_unavailable()
        if reason:
            raise ConfigError(reason)
        module_name, _, attr = self.fn.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add ``metric`` to the registry (``replace`` to override one of the same name)."""
    if metric.kind not in ("no-reference", "full-reference"):
        raise ValueError(f"metric kind must be 'no-reference' or 'full-reference', got {metric.kind!r}")
    if metric.name in _REGISTRY and not replace:
        raise ValueError(
            f"a metric named {metric.name!r} is already registered; give yours another name, "
            "or pass replace=True to replace it"
        )
    _REGISTRY[metric.name] = metric
    return metric


def metric_names(kind: MetricKind | None = None) -> list[str]:
    """Registered metric names (of one kind, if given), in registration order."""
    return [m.name for m in _REGISTRY.values() if kind is None or m.kind == kind]


def get_metric(name: str) -> Metric:
    """The metric registered as ``name``.

    Raises:
        ConfigError: no metric has that name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown metric {quote(name, 40)}; known metrics: {', '.join(metric_names())}") from None


def list_metrics(kind: MetricKind | None = None) -> list[Metric]:
    """Registered metrics (of one kind, if given)."""
    return [m for m in _REGISTRY.values() if kind is None or m.kind == kind]


def default_metrics() -> list[str]:
    """The no-reference metrics that work here without optional extras (the ``score`` default)."""
    return [m.name for m in list_metrics("no-reference") if m.requires is None and m.available()]


def validate_metrics(names: Iterable[str] | str, *, kind: MetricKind | None = None, where: str = "") -> list[str]:
    """Check metric names (a list or a comma-separated string); returns them without duplicates.

    Raises:
        ConfigError: an unknown name, a metric of the wrong ``kind``, or one that is unavailable.
    """
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    prefix = f"{where}: " if where else ""
    unique: list[str] = []
    for name in names:
        try:
            metric = get_metric(name)
        except ConfigError as exc:
            raise ConfigError(prefix + str(exc)) from None
        if kind is not None and metric.kind != kind:
            raise ConfigError(
                f"{prefix}metric {quote(name, 40)} is {metric.kind} and cannot be used here; "
                f"{kind} metrics: {', '.join(metric_names(kind))}"
            )
        reason = metric.why_unavailable()
        if reason:
            raise ConfigError(prefix + reason)
        if name not in unique:
            unique.append(name)
    if not unique:
        raise ConfigError(f"{prefix}no metrics given; known metrics: {', '.join(metric_names())}")
    return unique


def _on_supported_device(metric: Metric, x: torch.Tensor) -> torch.Tensor:
    return x if x.device.type in metric.devices else x.to(metric.devices[0])


def compute(
    names: Sequence[str],
    image: Image | torch.Tensor,
    reference: Image | torch.Tensor | None = None,
    *,
    crop_border: int = 0,
) -> dict[str, float]:
    """Compute the named metrics on ``image`` (full-reference ones against ``reference``).

    Returns ``{name: value}`` in the order given. Non-finite results (PSNR of identical images)
    come back as ``math.inf``.

    Raises:
        ConfigError: an unknown or unavailable metric, or a full-reference one without a reference.
    """
    from ._util import planes

    x = planes(image)
    ref = planes(reference) if reference is not None else None
    values: dict[str, float] = {}
    for name in validate_metrics(names):
        metric = get_metric(name)
        fn = metric.load()
        if metric.kind == "full-reference":
            if ref is None:
                raise ConfigError(
                    f"metric {quote(name, 40)} compares against a reference image: give one (--reference DIR)"
                )
            value = fn(_on_supported_device(metric, x), _on_supported_device(metric, ref), crop_border=crop_border)
        else:
            value = fn(_on_supported_device(metric, x))
        values[name] = float(value)
    return values


def compute_each(
    names: Sequence[str],
    image: Image | torch.Tensor,
    reference: Image | torch.Tensor | None = None,
    *,
    crop_border: int = 0,
    label: str = "",
    warn: Callable[[str], None] | None = None,
) -> dict[str, float | None]:
    """Each named metric on its own, for reports: ``{name: value}``, None where there is no number.

    A metric that cannot be computed on these images (SSIM on a 40x1 image, NIQE on a tiny one)
    is None and ``warn`` gets one line naming it, ``label`` (which image: ``before``, ``after``...)
    and why, so one failing metric never costs the others or the file. A non-finite value (PSNR of
    identical images) is None too: JSON has no infinity.
    """
    from ..errors import first_line

    values: dict[str, float | None] = {}
    for name in names:
        try:
            value = compute([name], image, reference, crop_border=crop_border)[name]
        except Exception as exc:  # one metric failing on one image must not fail the image
            if warn is not None:
                warn(f"score: {name} ({label}) could not be computed: {first_line(exc)}")
            values[name] = None
            continue
        values[name] = value if math.isfinite(value) else None
    return values


def _builtin(name: str, kind: MetricKind, higher: bool, fn: str, description: str, **extra: Any) -> None:
    register_metric(Metric(name, kind, higher, f"enhance.metrics.{fn}", description, **extra))


# -- the metrics that ship with enhance ----------------------------------------------------------

_builtin(
    "sharpness",
    "no-reference",
    True,
    "gradient:sharpness",
    "RMS luma gradient per picture short side (a plain resize scores about the same; "
    "sharp detail drawn at a higher resolution scores higher)",
    resolution=0.01,
)
_builtin(
    "banding",
    "no-reference",
    False,
    "banding:banding_index",
    "visible banding in smooth gradients (0 = none; higher is worse)",
    resolution=0.01,
)
_builtin(
    "entropy",
    "no-reference",
    True,
    "information:entropy",
    "Shannon entropy of the 8-bit luma histogram",
    scale_invariant=True,
    unit="bits",
    resolution=1e-3,
)
_builtin(
    "png_bpp",
    "no-reference",
    True,
    "information:png_bpp",
    "bits per pixel of the rows of a lossless 8-bit PNG as enhance writes it: file size tracks detail",
    unit="bits/px",
    resolution=1e-3,
)
_builtin(
    "niqe",
    "no-reference",
    False,
    "naturalness:niqe",
    "NIQE naturalness (MATLAB/basicsr convention, basicsr's pristine model; lower is better)",
    requires="basicsr",
    resolution=1e-3,
)
_builtin("psnr", "full-reference", True, "fidelity:psnr", "PSNR over RGB, 8-bit levels", unit="dB", resolution=1e-3)
_builtin(
    "psnr_y",
    "full-reference",
    True,
    "fidelity:psnr_y",
    "PSNR of BT.601 Y (SR-benchmark convention)",
    unit="dB",
    resolution=1e-3,
)
_builtin(
    "ssim", "full-reference", True, "fidelity:ssim", "SSIM (11x11 Gaussian, σ=1.5) averaged over RGB", resolution=1e-4
)
_builtin(
    "ssim_y", "full-reference", True, "fidelity:ssim_y", "SSIM of BT.601 Y (SR-benchmark convention)", resolution=1e-4
)
