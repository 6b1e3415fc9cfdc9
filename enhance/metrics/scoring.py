"""Score image files on their own (``enhance score``), optionally against references.

Each file is scored with no-reference metrics; with a reference folder, its reference is found by
relative path (``a/b.png`` ↔ ``REF/a/b.png``, any image suffix), then by a unique file stem
anywhere under the folder, and full-reference metrics compare the two. The result has the shape
of the batch runner's manifest (``kind: "score"``) so the same reports render it: for a
no-reference metric, ``before`` is the reference's value (when there is one) and ``after`` the
file's; for a full-reference metric ``after`` holds the value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EnhanceError, InputError
from ..manifest import build_manifest, failure_message, new_record, now

__all__ = ["ReferenceIndex", "default_score_metrics", "score_files"]

FULL_REFERENCE_DEFAULTS = ("psnr", "psnr_y", "ssim", "ssim_y")


class ReferenceIndex:
    """The image files under a reference folder, looked up by relative path, then by stem."""

    def __init__(self, folder: Path) -> None:
        from ..batch import discover

        if not folder.is_dir():
            raise ConfigError(f"{folder}: reference folder not found; give a folder with --reference")
        self.folder = folder
        self._by_path: dict[str, Path] = {}
        self._by_stem: dict[str, list[Path]] = {}
        for path, relative in discover([folder], recursive=True):
            self._by_path[relative.with_suffix("").as_posix()] = path
            self._by_stem.setdefault(relative.stem, []).append(path)

    def find(self, relative: Path) -> Path:
        """The reference of a file at ``relative`` (its path under the scored folder).

        Raises:
            InputError: none, or several with the same stem.
        """
        found = self._by_path.get(relative.with_suffix("").as_posix())
        if found is not None:
            return found
        candidates = self._by_stem.get(relative.stem, [])
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            names = ", ".join(str(c.relative_to(self.folder)) for c in candidates[:4])
            raise InputError(f"{relative}: several references share its name in {self.folder} ({names}); rename one")
        raise InputError(
            f"{relative}: no reference found in {self.folder} (looked for {relative} and '{relative.stem}.*')"
        )


def default_score_metrics(with_reference: bool) -> list[str]:
    """No-reference metrics that need no extra, plus PSNR/SSIM (RGB and Y) with a reference."""
    from .registry import default_metrics

    return default_metrics() + (list(FULL_REFERENCE_DEFAULTS) if with_reference else [])


def _finite(value: float) -> float | None:
    import math

    return value if math.isfinite(value) else None


def _compute(names: Sequence[str], *images: Any, crop_border: int = 0) -> dict[str, float]:
    """``registry.compute`` for one group of metrics; an empty group (``-m`` named only metrics of
    the other kind) computes nothing instead of being refused as "no metrics given"."""
    from .registry import compute

    return compute(names, *images, crop_border=crop_border) if names else {}


def score_files(
    paths: Sequence[Path | str],
    *,
    reference: Path | str | None = None,
    metrics: Sequence[str] | str | None = None,
    crop_border: int = 0,
    device: str = "auto",
    recursive: bool = False,
    pattern: str | None = None,
    exclude: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Score files and folders; returns a manifest-shaped dict (``kind: "score"``).

    Raises:
        ConfigError: unknown metrics, a full-reference metric without ``reference``, a missing
            input or reference folder, or a bad device (before any image is read).
    """
    import torch

    from ..batch import discover
    from ..devices import resolve_device
    from ..io import read
    from .registry import get_metric, validate_metrics

    names = validate_metrics(metrics if metrics is not None else default_score_metrics(reference is not None))
    full = [n for n in names if get_metric(n).kind == "full-reference"]
    if full and reference is None:
        raise ConfigError(f"{', '.join(full)} compare(s) against a reference image: give --reference DIR")
    if crop_border < 0:
        raise ConfigError(f"--crop-border must be 0 or more, got {crop_border}")
    references = ReferenceIndex(Path(reference)) if reference is not None else None
    target = resolve_device(device)
    found = discover(paths, recursive=recursive, pattern=pattern, exclude=exclude)
    if not found:
        raise ConfigError(f"no images found in {', '.join(map(str, paths))}")
    plain = [n for n in names if get_metric(n).kind == "no-reference"]
    started = now()
    records = []
    for path, relative in found:
        record = new_record(path, relative, reference=None)
        t0 = time.perf_counter()
        try:
            ref_path = references.find(relative) if references is not None else None
            with torch.no_grad():
                image = read(path, target)
                record["size"]["input"] = list(image.size)
                scores: dict[str, dict[str, float | None]] = {
                    n: {"before": None, "after": _finite(v), "delta": None} for n, v in _compute(plain, image).items()
                }
                if ref_path is not None:
                    record["reference"] = str(ref_path.resolve())
                    ref = read(ref_path, target)
                    record["size"]["reference"] = list(ref.size)
                    for n, v in _compute(plain, ref).items():
                        before, after = _finite(v), scores[n]["after"]
                        scores[n].update(before=before, delta=None if None in (before, after) else after - before)
                    for n, v in _compute(full, image, ref, crop_border=crop_border).items():
                        scores[n] = {"before": None, "after": _finite(v), "delta": None}
            record["results"]["scores"] = scores
        except (EnhanceError, ValueError) as exc:
            message = failure_message(exc, path, relative)
            record.update(status="failed", error=message)
            echo(f"failed: {message}")
        record["timings"]["compute"] = round(time.perf_counter() - t0, 4)
        records.append(record)
    return build_manifest(
        "score",
        records,
        started=started,
        device=str(target),
        metrics=names,
        crop_border=crop_border,
        reference=str(Path(reference).resolve()) if reference is not None else None,
    )
