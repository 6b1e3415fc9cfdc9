"""One line that says where a benchmark ran: CPU model and count, torch threads, versions, GPU.

Shared by the ``bench_*.py`` scripts so that every table in BENCHMARKS.md names its machine the
same way. The scripts import it as ``machine`` (their own folder is first on ``sys.path`` when run
as ``python benchmarks/bench_x.py``).
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["cpu_model", "describe"]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str | None = None) -> str:
    """Date (UTC), CPU, torch and Python versions, and the GPU's name when ``device`` is CUDA."""
    import torch

    text = (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_model()}, {os.cpu_count()} logical CPUs "
        f"({torch.get_num_threads()} torch threads); torch {torch.__version__}, Python {platform.python_version()}"
    )
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(device)}"
    return text
