"""Score image files on their own (``enhance score``), optionally against references.

Each file is scored with no-reference metrics; with a reference folder, its reference is found by
exact relative path (``a/b.png`` ↔ ``REF/a/b.png``), else the same path with another image suffix,
else its file stem anywhere under the folder; a looser match is used only when it is the only
candidate (several fail the file, naming them). Full-reference metrics compare the two. The
result has the shape of the batch runner's manifest (``kind: "score"``) so the same reports render it: for a
no-reference metric, ``before`` is the reference's value (when there is one) and ``after`` the
file's; for a full-reference metric ``after`` holds the value.

As in the ``score`` stage, a metric that cannot be computed on an image (SSIM on a 40x1 image,
NIQE on a tiny one) is None with a warning in the record naming the metric and why; the file stays
``done`` when at least one metric was computed. A file fails when it (or its reference) cannot be
read, its reference is missing or ambiguous, the reference differs in size while full-reference
metrics were asked for, or no metric at all could be computed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, EnhanceError, InputError
from .events import EventSink, FileFinished, FilesPlanned, Notice, emitter
from .manifest import build_manifest, failure_message, new_record, now

__all__ = ["ReferenceIndex", "default_score_metrics", "score_files"]

FULL_REFERENCE_DEFAULTS = ("psnr", "psnr_y", "ssim", "ssim_y")


class ReferenceIndex:
    """The image files under a reference folder, looked up by exact relative path, then by
    relative path with another image suffix, then by file stem anywhere under the folder."""

    def __init__(self, folder: Path) -> None:
        from .discovery import discover

        if not folder.is_dir():
            raise ConfigError(f"{folder}: reference folder not found; give a folder with --reference")
        self.folder = folder
        self._exact: dict[str, Path] = {}
        self._by_path: dict[str, list[Path]] = {}
        self._by_stem: dict[str, list[Path]] = {}
        for path, relative in discover([folder], recursive=True):
            self._exact[relative.as_posix()] = path
            self._by_path.setdefault(relative.with_suffix("").as_posix(), []).append(path)
            self._by_stem.setdefault(relative.stem, []).append(path)

    def find(self, relative: Path) -> Path:
        """The reference of a file at ``relative`` (its path under the scored folder).

        An exact match wins; a looser match is used only when it is the only candidate, so a
        reference is never picked silently among several.

        Raises:
            InputError: none, or several candidates at the first level that has any.
        """
        exact = self._exact.get(relative.as_posix())
        if exact is not None:
            return exact
        for candidates in (
            self._by_path.get(relative.with_suffix("").as_posix(), []),
            self._by_stem.get(relative.stem, []),
        ):
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                names = ", ".join(c.relative_to(self.folder).as_posix() for c in sorted(candidates))
                raise InputError(f"{relative}: several references match in {self.folder}: {names}; keep one")
        raise InputError(
            f"{relative}: no reference found in {self.folder} (looked for {relative} and '{relative.stem}.*')"
        )


def default_score_metrics(with_reference: bool) -> list[str]:
    """No-reference metrics that need no extra, plus PSNR/SSIM (RGB and Y) with a reference."""
    from .metrics.registry import default_metrics

    return default_metrics() + (list(FULL_REFERENCE_DEFAULTS) if with_reference else [])


def _same_size(image: Any, ref: Any, ref_path: Path) -> None:
    """Full-reference metrics compare pixel by pixel, so a reference of another size fails the file.

    Raises:
        InputError: the sizes differ.
    """
    if tuple(image.size) != tuple(ref.size):
        (w, h), (rw, rh) = image.size, ref.size
        raise InputError(
            f"the image is {w}x{h} but its reference {ref_path} is {rw}x{rh}: "
            "full-reference metrics compare images of the same size"
        )


def _score_one(
    path: Path,
    ref_path: Path | None,
    plain: Sequence[str],
    full: Sequence[str],
    record: dict[str, Any],
    target: Any,
    crop_border: int,
) -> dict[str, dict[str, float | None]]:
    """The scores of one file (and its reference); metric failures become warnings in ``record``.

    Raises:
        InputError: the file or its reference cannot be read, or they differ in size while
            full-reference metrics were asked for.
    """
    import torch

    from .io import read
    from .metrics.registry import compute_each

    warnings: list[str] = record["warnings"]
    with torch.no_grad():
        image = read(path, target)
        record["size"]["input"] = list(image.size)
        after = compute_each(plain, image, label="after", warn=warnings.append)
        scores = {n: {"before": None, "after": v, "delta": None} for n, v in after.items()}
        if ref_path is None:
            return scores
        record["reference"] = str(ref_path.resolve())
        ref = read(ref_path, target)
        record["size"]["reference"] = list(ref.size)
        if full:
            _same_size(image, ref, ref_path)
        for n, before in compute_each(plain, ref, label="before", warn=warnings.append).items():
            a = scores[n]["after"]
            scores[n].update(before=before, delta=None if before is None or a is None else a - before)
        for n, v in compute_each(
            full, image, ref, crop_border=crop_border, label="against the reference", warn=warnings.append
        ).items():
            scores[n] = {"before": None, "after": v, "delta": None}
    return scores


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
    out_dir: Path | str | None = None,
    on_event: EventSink | None = None,
) -> dict[str, Any]:
    """Score files and folders; returns a manifest-shaped dict (``kind: "score"``).

    With ``out_dir``, the reports (``report.json``, ``.csv``, ``.html``) are written there, their
    paths listed under ``"reports"`` (a report that cannot be written is an error
    :class:`~enhance.events.Notice` and a line under ``"unwritten"``), and the folder is held for
    the whole call (one writer per folder, :func:`enhance.files.lock_folder`); files under it are
    not scored.

    ``on_event`` receives :class:`~enhance.events.FilesPlanned`, then one
    :class:`~enhance.events.FileFinished` per file and a warning :class:`~enhance.events.Notice`
    per metric that could not be computed on a scored file (see :mod:`enhance.events`).

    Raises:
        ConfigError: unknown metrics, a full-reference metric without ``reference``, a missing
            input or reference folder, a bad device, or an ``out_dir`` that cannot be written or
            that another enhance command is writing into (all before any image is read).
    """
    from .files import lock_folder

    emit = emitter(on_event)
    if out_dir is None:
        return _score_files(paths, reference, metrics, crop_border, device, recursive, pattern, exclude, None, emit)
    out_dir = Path(out_dir)
    with lock_folder(out_dir, "enhance score"):
        return _score_files(
            paths, reference, metrics, crop_border, device, recursive, pattern, exclude or out_dir, out_dir, emit
        )


def _score_files(
    paths: Sequence[Path | str],
    reference: Path | str | None,
    metrics: Sequence[str] | str | None,
    crop_border: int,
    device: str,
    recursive: bool,
    pattern: str | None,
    exclude: Path | None,
    out_dir: Path | None,
    emit: EventSink,
) -> dict[str, Any]:
    """:func:`score_files`, with ``out_dir`` (if any) held."""
    from .devices import resolve_device
    from .discovery import discover
    from .files import remove_stale_temps
    from .metrics.registry import get_metric, validate_metrics

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
    if out_dir is not None:
        remove_stale_temps(out_dir)
    started = now()
    records = []
    emit(FilesPlanned(len(found)))
    for path, relative in found:
        record = new_record(path, relative, reference=None)
        t0 = time.perf_counter()
        try:
            ref_path = references.find(relative) if references is not None else None
            record["results"]["scores"] = _score_one(path, ref_path, plain, full, record, target, crop_border)
            attempts = len(plain) * (1 if ref_path is None else 2) + (len(full) if ref_path is not None else 0)
            if attempts and len(record["warnings"]) >= attempts:
                raise InputError(f"no metric could be computed ({'; '.join(record['warnings'])})")
        except (EnhanceError, ValueError) as exc:
            record.update(status="failed", error=failure_message(exc, path, relative))
        for warning in record["warnings"] if record["status"] == "done" else ():
            emit(Notice("warning", f"{relative.as_posix()}: {warning}"))
        record["timings"]["compute"] = round(time.perf_counter() - t0, 4)
        records.append(record)
        emit(FileFinished(record))
    manifest = build_manifest(
        "score",
        records,
        started=started,
        device=str(target),
        metrics=names,
        crop_border=crop_border,
        reference=str(Path(reference).resolve()) if reference is not None else None,
    )
    if out_dir is not None:
        from .report import record_reports

        problem = record_reports(manifest, out_dir)
        if problem is not None:
            emit(Notice("error", problem))
    return manifest
