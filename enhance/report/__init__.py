"""Reports of a scored batch: ``report.json``, ``report.csv`` and a self-contained ``report.html``.

>>> from enhance.report import write_reports
>>> write_reports(manifest, out_dir)     # -> [report.json, report.csv, report.html]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_reports", "save_reports", "record_reports", "REPORT_NAMES"]

REPORT_NAMES = ("report.json", "report.csv", "report.html")


def write_reports(manifest: dict[str, Any], out_dir: Path, *, max_crops: int | None = None) -> list[Path]:
    """Write the three reports of ``manifest`` (the batch runner's, or score/pick's) into ``out_dir``.

    Args:
        manifest: ``{"files": [record, ...], ...}`` as in ``manifest.json``.
        out_dir: folder to write into (created if needed).
        max_crops: how many images get before/after crops in the HTML (default 50).

    Returns:
        The paths written, JSON, CSV and HTML in that order.

    Raises:
        OSError: a report could not be written (each is atomic: none is left half-written).
    """
    return [write(path) for path, write in _writers(manifest, Path(out_dir), max_crops)]


def save_reports(
    manifest: dict[str, Any], out_dir: Path, *, max_crops: int | None = None
) -> tuple[list[Path], str | None]:
    """:func:`write_reports`, but a report that cannot be written (disk full, a read-only or
    immutable folder) is not an exception: it ends the writing and comes back as one line naming
    the file and the fix.

    Returns:
        The paths written, and that line (None when all three were written).
    """
    written: list[Path] = []
    for path, write in _writers(manifest, Path(out_dir), max_crops):
        try:
            written.append(write(path))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            fix = "free some space or make the folder writable, then rerun"
            return written, f"{path}: cannot be written ({reason}); {fix}"
    return written, None


def record_reports(manifest: dict[str, Any], out_dir: Path) -> str | None:
    """:func:`save_reports`, noting in ``manifest`` what happened: the paths written under
    ``"reports"``, the line of a report that could not be written under ``"unwritten"``, for
    commands that write their reports themselves (``score``, ``pick``). Returns that line (None
    when all three were written), for the caller to say."""
    written, problem = save_reports(manifest, out_dir)
    manifest["reports"] = [str(p) for p in written]
    manifest["unwritten"] = [] if problem is None else [problem]
    return problem


def _writers(
    manifest: dict[str, Any], out_dir: Path, max_crops: int | None
) -> list[tuple[Path, Callable[[Path], Path]]]:
    """Each report's path and the call that writes it, the content built once."""
    from .csv import write_csv
    from .html import MAX_CROP_IMAGES, write_html
    from .json import write_json
    from .model import build_report

    report = build_report(manifest)
    crops = MAX_CROP_IMAGES if max_crops is None else max_crops
    json_name, csv_name, html_name = REPORT_NAMES
    return [
        (out_dir / json_name, lambda path: write_json(report, path)),
        (out_dir / csv_name, lambda path: write_csv(report, path)),
        (out_dir / html_name, lambda path: write_html(report, path, max_crops=crops)),
    ]
