"""Device and dtype choice: the one place that decides where and in what precision work runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "compute_dtype", "DEVICE_HELP"]

DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` (or a torch.device) into a usable torch.device.

    Raises:
        ConfigError: the spec is malformed, or names a CUDA device this machine does not have.
    """
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        index_text = spec.partition(":")[2]
        if index_text and not index_text.isdigit():
            raise ConfigError(f"device {spec!r} is not valid: use {DEVICE_HELP}")
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {spec!r} was asked for but CUDA is not available on this machine: "
                "use --device cpu or --device auto"
            )
        index = int(index_text) if index_text else torch.cuda.current_device()
        count = torch.cuda.device_count()
        if index >= count:
            raise ConfigError(f"device {spec!r} does not exist: this machine has {count} CUDA device(s)")
        return torch.device("cuda", index)
    raise ConfigError(f"device {spec!r} is not valid: use {DEVICE_HELP}")


def compute_dtype(
    device: torch.device,
    *,
    fp16: bool = True,
    bf16: bool = True,
    precision: str = "auto",
) -> torch.dtype:
    """The dtype a model should run in on ``device``.

    Policy: fp32 on CPU (half precision is slower there and less exact); on CUDA, fp16 when the
    model supports it (fastest on tensor cores), else bf16 when the model and the GPU support it,
    else fp32. ``precision`` (``auto``, ``fp32``, ``fp16``, ``bf16``) overrides the choice; asking
    for a half type the model cannot run in is a ConfigError.
    """
    import torch

    precision = precision.lower()
    if precision == "fp32" or device.type != "cuda":
        if precision in ("fp16", "bf16") and device.type != "cuda":
            raise ConfigError(f"precision {precision} needs a CUDA device; on {device} use fp32 or auto")
        return torch.float32
    if precision == "fp16":
        if not fp16:
            raise ConfigError("this model does not support fp16: use precision bf16, fp32 or auto")
        return torch.float16
    if precision == "bf16":
        if not bf16:
            raise ConfigError("this model does not support bf16: use precision fp16, fp32 or auto")
        return torch.bfloat16
    if precision != "auto":
        raise ConfigError(f"precision {precision!r} is not valid: use auto, fp32, fp16 or bf16")
    if fp16:
        return torch.float16
    if bf16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
