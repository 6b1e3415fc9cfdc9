"""Device and dtype choice, and device memory: where and in what precision work runs, how much
memory is free there, and whether an error means it ran out."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, quote

if TYPE_CHECKING:
    import torch

__all__ = [
    "resolve_device",
    "compute_dtype",
    "DEVICE_HELP",
    "available_memory",
    "is_out_of_memory",
    "release_memory",
    "synchronize",
]

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
            raise ConfigError(f"device {quote(spec, 40)} is not valid: use {DEVICE_HELP}")
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {quote(spec, 40)} was asked for but CUDA is not available on this machine: "
                "use --device cpu or --device auto"
            )
        index = int(index_text) if index_text else torch.cuda.current_device()
        count = torch.cuda.device_count()
        if index >= count:
            raise ConfigError(f"device {quote(spec, 40)} does not exist: this machine has {count} CUDA device(s)")
        return torch.device("cuda", index)
    raise ConfigError(f"device {quote(spec, 40)} is not valid: use {DEVICE_HELP}")


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
        raise ConfigError(f"precision {quote(precision, 40)} is not valid: use auto, fp32, fp16 or bf16")
    if fp16:
        return torch.float16
    if bf16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


#: what allocators say when they run out (CUDA, CPU, MPS): a RuntimeError with one of these is one
_OOM_MESSAGES = ("out of memory", "not enough memory", "DefaultCPUAllocator", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means the device (or the host) ran out of memory.

    True for :class:`MemoryError`, torch's ``OutOfMemoryError`` and a RuntimeError whose message
    is an allocator's out-of-memory message, and for an error raised from or while handling one
    (a stage that reports an out-of-memory as an :class:`~enhance.errors.InputError` naming the
    file): the chain of causes is followed. Other errors that merely mention memory are not.
    """
    torch = sys.modules.get("torch")  # no torch loaded: no torch error either
    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    if torch is not None:
        oom_types += (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, oom_types):
            return True
        if isinstance(current, RuntimeError) and any(s in str(current) for s in _OOM_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def release_memory(device: Any) -> None:
    """Give memory back after an out-of-memory error: collect garbage (tensors held in reference
    cycles, e.g. by a traceback) and, on CUDA, return torch's cached blocks to the driver."""
    import gc

    gc.collect()
    if getattr(device, "type", str(device).partition(":")[0]) == "cuda":
        import torch

        torch.cuda.empty_cache()


def synchronize(device: Any) -> None:
    """Wait until the work queued on ``device`` has finished, so a clock read next measures it.

    CUDA kernels run asynchronously: without this, a stage's wall time is the time to queue its
    kernels and the next blocking call pays for them. A no-op on CPU (work there is done when the
    call returns), so timing costs nothing where there is nothing to wait for.
    """
    if getattr(device, "type", str(device).partition(":")[0]) != "cuda":
        return
    import torch

    torch.cuda.synchronize(device)


def available_memory(device: torch.device) -> int:
    """Bytes that may be allocated on ``device`` now (free CUDA memory, or available RAM)."""
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        # what torch's allocator holds in its cache (freed by the previous image) is free to us too
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(cached, 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30
