"""RunContext: what a stage may know about the run beyond the image it is given."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from .image import Image

__all__ = ["RunContext"]

log = logging.getLogger("enhance")


@dataclass
class RunContext:
    """Per-image state shared by the stages of one pipeline run.

    Attributes:
        device: where the image lives and stages compute (one upload, one download per image).
        source: the pipeline's input image ("before"), for stages that compare, e.g. ``score``.
        path: the input file, for messages; None for in-memory images.
        seed: base seed for anything random (dither, grain); runs are deterministic by default.
        results: what stages report for this image (scores, chosen tile size...). The batch runner
            writes it to the manifest, so values must be JSON-serialisable.
        warnings: messages for the user about this image (e.g. a tile rerun in fp32).
    """

    device: torch.device | str = "cpu"
    source: Image | None = None
    path: Path | None = None
    seed: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning for this image and log it."""
        where = f"{self.path}: " if self.path else ""
        self.warnings.append(message)
        log.warning("%s%s", where, message)

    def for_image(self, source: Image | None = None, path: Path | None = None) -> RunContext:
        """A fresh context for the next image, keeping the run-wide settings."""
        return RunContext(device=self.device, source=source, path=path, seed=self.seed)
