"""Device and dtype choice, device memory and host <-> device copies: where and in what precision
work runs, how much memory is free there, whether an error means it ran out, and how pixels get
to the device and back."""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, quote

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "import_torch",
    "resolve_device",
    "TransferPlan",
    "transfer_plan",
    "upload",
    "start_download",
    "Download",
    "compute_dtype",
    "DEVICE_HELP",
    "available_memory",
    "MEMORY_LIMIT_ENV",
    "MemoryLimit",
    "format_bytes",
    "memory_limit",
    "is_out_of_memory",
    "release_memory",
    "synchronize",
]

DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"

#: torch's CPU allocator hands large tensors transparent huge pages when this is set (read once,
#: at torch's first allocation). A convolutional model's activations are tens of MB each, freed and
#: allocated again at every layer: with 4 KiB pages each allocation is first touched page by page
#: (a 512x512 pass of realesr-animevideov3 took ~590k page faults per image), with 2 MiB pages 30x
#: fewer, and the pass needs about a quarter less CPU time (BENCHMARKS.md, "Upscale", CPU).
_THP_ENV = "THP_MEM_ALLOC_ENABLE"


def import_torch() -> ModuleType:
    """Import torch, the first time with enhance's allocator setting (huge pages for large CPU
    tensors, see ``_THP_ENV``) unless the environment already says otherwise.

    The setting only takes effect if torch is not loaded yet: whoever imported torch first decided.
    The command line's first torch import is :func:`resolve_device`'s, so a run gets it.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault(_THP_ENV, "1")
    import torch

    return torch


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` (or a torch.device) into a usable torch.device.

    Raises:
        ConfigError: the spec is malformed, or names a CUDA device this machine does not have.
    """
    torch = import_torch()

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


def available_memory(device: torch.device | str) -> int:
    """Bytes that may be allocated on ``device`` now (free CUDA memory, or available RAM)."""
    if getattr(device, "type", str(device).partition(":")[0]) == "cuda":
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


#: the environment variable that sets the memory a file may need (``12G``, ``800M``, bytes)
MEMORY_LIMIT_ENV = "ENHANCE_MEMORY_LIMIT"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class MemoryLimit:
    """The most memory one file's work may need, and where that figure came from (for messages)."""

    bytes: int
    source: str

    def refusal(self, subject: str, need: int) -> str | None:
        """One line refusing ``subject`` (``"photo.png: a 16000x16000 image"``) when ``need``
        bytes are over the limit; None when they fit."""
        if need <= self.bytes:
            return None
        return (
            f"{subject} needs about {format_bytes(need)} of memory, over the limit of "
            f"{format_bytes(self.bytes)} ({self.source}); downscale it, or raise the limit, "
            f"e.g. {MEMORY_LIMIT_ENV}={-(-need // _UNITS['G'])}G"
        )


def format_bytes(count: int) -> str:
    """``count`` bytes for a person: ``7.7 GB``, ``512 MB`` (binary multiples)."""
    for unit in ("T", "G", "M", "K"):
        if count >= _UNITS[unit]:
            return f"{count / _UNITS[unit]:.1f} {unit}B"
    return f"{count} bytes"


def memory_limit() -> MemoryLimit:
    """The memory one file's work may need: ``ENHANCE_MEMORY_LIMIT`` when set, else half the
    memory available now (the other half for the images decoded ahead and encoded behind, and
    for the rest of the machine). Decided once, before any image is read.

    Raises:
        ConfigError: ``ENHANCE_MEMORY_LIMIT`` is not a size.
    """
    value = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not value:
        available = available_memory("cpu")
        return MemoryLimit(available // 2, f"half the {format_bytes(available)} of memory available")
    match = re.fullmatch(r"(\d{1,15})\s*([KMGT]?)i?B?", value, re.IGNORECASE)
    if match is None or int(match[1]) == 0:
        raise ConfigError(
            f"{MEMORY_LIMIT_ENV}={quote(value, 40)} is not a size; give bytes or a number with K, M, G or T (e.g. 12G)"
        )
    return MemoryLimit(int(match[1]) * _UNITS[match[2].upper()], f"{MEMORY_LIMIT_ENV}={value}")


# -- host <-> device copies ------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferPlan:
    """How pixels cross between host and ``device``.

    Attributes:
        pinned: stage host buffers in page-locked memory (the only memory a GPU copies from
            asynchronously; torch's caching host allocator reuses the buffers image after image).
        non_blocking: enqueue the copy and return at once.
        side_stream: run copies on a stream of their own, so a copy overlaps kernels already queued
            on the compute stream (the compute stream waits for the copy only where it uses it).
    """

    pinned: bool
    non_blocking: bool
    side_stream: bool


def transfer_plan(device: torch.device | str) -> TransferPlan:
    """Pinned, non-blocking side-stream copies on CUDA; on any other device nothing of the kind
    (a CPU "upload" shares the host array's memory: no copy at all)."""
    cuda = str(device).partition(":")[0] == "cuda"
    return TransferPlan(pinned=cuda, non_blocking=cuda, side_stream=cuda)


_streams: dict[Any, Any] = {}
_streams_lock = threading.Lock()


def _copy_stream(device: torch.device) -> Any:
    """The side stream for copies to and from ``device`` (one per device, made once)."""
    import torch

    with _streams_lock:
        stream = _streams.get(device)
        if stream is None:
            stream = _streams[device] = torch.cuda.Stream(device)
        return stream


def upload(array: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A host array on ``device`` in its own dtype (uint8 stays uint8: a quarter of float32's bytes
    cross the bus; convert on the device).

    On CPU the tensor shares the array's memory. On CUDA the array is staged in a pinned buffer and
    copied on the side stream without blocking; the current stream waits for the copy before it
    uses the result, so the call may come from a decode thread while the model runs.
    """
    import numpy as np

    torch = import_torch()
    device = torch.device(device)
    source = torch.from_numpy(np.ascontiguousarray(array))
    plan = transfer_plan(device)
    if device.type == "cpu":
        return source
    if plan.pinned:
        source = source.pin_memory()
    if not plan.side_stream:
        return source.to(device, non_blocking=plan.non_blocking)
    stream = _copy_stream(device)
    with torch.cuda.stream(stream):
        result = source.to(device, non_blocking=plan.non_blocking)
    current = torch.cuda.current_stream(device)
    current.wait_stream(stream)
    result.record_stream(current)  # its memory is the current stream's to free
    return result


class Download:
    """A device -> host copy under way: :meth:`result` waits for it and gives the numpy array."""

    def __init__(self, host: torch.Tensor, event: Any = None) -> None:
        self._host, self._event = host, event

    def done(self) -> bool:
        """Whether :meth:`result` would return without waiting."""
        return self._event is None or bool(self._event.query())

    def result(self) -> np.ndarray:
        """The host array (in pinned memory on CUDA; it is released when the array is)."""
        if self._event is not None:
            self._event.synchronize()
        return self._host.numpy()


def start_download(tensor: torch.Tensor) -> Download:
    """Start copying ``tensor`` to the host; :meth:`Download.result` waits for it.

    On CUDA the copy runs on the side stream, after what the current stream has queued, into a
    pinned buffer, so the caller may queue more work (the next image) before it waits. On CPU
    there is nothing to copy.
    """
    torch = import_torch()
    plan = transfer_plan(tensor.device)
    if tensor.device.type == "cpu":
        return Download(tensor.contiguous())
    if not plan.side_stream:
        return Download(tensor.to("cpu"))
    stream = _copy_stream(tensor.device)
    stream.wait_stream(torch.cuda.current_stream(tensor.device))
    with torch.cuda.stream(stream):
        host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=plan.pinned)
        host.copy_(tensor, non_blocking=plan.non_blocking)
        event = torch.cuda.Event()
        event.record(stream)
    tensor.record_stream(stream)  # not reused by the compute stream before the copy has read it
    return Download(host, event)
