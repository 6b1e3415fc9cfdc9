"""An optional ``torch.compile`` of a model's forward, with a clean fallback to eager mode.

``torch.compile`` is lazy: an unsupported Python, a missing C++ compiler or a backend failure
shows only at the first call (or at a later call with a new input shape, which recompiles). So the
compiled forward is tried on every call until it fails once; from then on the eager forward runs,
the failed call included, and one warning says why. Running out of memory is not a compile
failure: it propagates, so that the tiler can retry with smaller tiles.

Why compile is off by default in the ``upscale`` stage: it could not be measured on the machines
this was written on (no GPU lent), a first call costs tens of seconds of compilation (on a
2-core CPU, minutes) and every new tile shape compiles again, while the convolutions, most of the
time, run in cuDNN/oneDNN either way; what fusion saves is the activations' and the final
pixel-shuffle's memory traffic. ``benchmarks/gpu_suite.sh`` measures both on a lent GPU.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..devices import is_out_of_memory
from ..errors import Cancelled

if TYPE_CHECKING:
    import torch

__all__ = ["CompiledForward", "compile_forward"]

log = logging.getLogger("enhance")

Forward = Callable[["torch.Tensor"], "torch.Tensor"]


class CompiledForward:
    """``forward`` compiled, falling back to ``forward`` itself on the first failure.

    Attributes:
        active: whether the compiled forward is still in use.
        reason: why it was given up (the error's first line), or None.
    """

    def __init__(self, forward: Forward, compiled: Forward | None, reason: str | None = None) -> None:
        self._eager, self._compiled = forward, compiled
        self.reason = reason
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._compiled is not None

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        compiled = self._compiled
        if compiled is None:
            return self._eager(t)
        try:
            return compiled(t)
        except Exception as exc:
            if isinstance(exc, Cancelled) or is_out_of_memory(exc):
                raise
            self._give_up(exc)
        return self._eager(t)

    def _give_up(self, exc: BaseException) -> None:
        with self._lock:
            if self._compiled is None:
                return
            self._compiled = None
            lines = str(exc).strip().splitlines()
            self.reason = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
        log.warning("torch.compile failed (%s); the model runs uncompiled", self.reason)

    def modules(self) -> Any:
        """The eager forward's modules (the CPU memory estimate hooks every layer)."""
        modules = getattr(self._eager, "modules", None)
        return modules() if callable(modules) else iter(())


def compile_forward(forward: Forward, *, backend: str = "inductor", mode: str | None = None) -> CompiledForward:
    """Wrap ``forward`` (``[B,C,h,w] -> [B,C,h*s,w*s]``) in ``torch.compile`` (static shapes: a tile
    shape is compiled once and reused for every tile of that shape), or in nothing where
    ``torch.compile`` itself is missing or refuses (the result then runs ``forward`` as it is)."""
    import torch

    compile_fn = getattr(torch, "compile", None)
    if compile_fn is None:
        return CompiledForward(forward, None, f"torch {torch.__version__} has no torch.compile")

    def call(t: torch.Tensor) -> torch.Tensor:
        return forward(t)

    try:
        compiled = compile_fn(call, backend=backend, mode=mode, dynamic=False)
    except Exception as exc:  # e.g. a Python version dynamo does not support yet
        wrapped = CompiledForward(forward, None)
        wrapped.reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        log.warning("torch.compile is unavailable (%s); the model runs uncompiled", wrapped.reason)
        return wrapped
    return CompiledForward(forward, compiled)
