"""Reports of a scored batch: ``report.json``, ``report.csv`` and a self-contained ``report.html``.

>>> from enhance.report import write_reports
>>> write_reports(manifest, out_dir)     # -> [report.json, report.csv, report.html]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_reports", "REPORT_NAMES"]

REPORT_NAMES = ("report.json", "report.csv", "report.html")


def write_reports(manifest: dict[str, Any], out_dir: Path, *, max_crops: int | None = None) -> list[Path]:
    """Write the three reports of ``manifest`` (the batch runner's, or score/pick's) into ``out_dir``.

    Args:
        manifest: ``{"files": [record, ...], ...}`` as in ``manifest.json``.
        out_dir: folder to write into (created if needed).
        max_crops: how many images get before/after crops in the HTML (default 50).

    Returns:
        The paths written, JSON, CSV and HTML in that order.
    """
    from .csv import write_csv
    from .html import MAX_CROP_IMAGES, write_html
    from .json import write_json
    from .model import build_report

    out_dir = Path(out_dir)
    report = build_report(manifest)
    json_name, csv_name, html_name = REPORT_NAMES
    return [
        write_json(report, out_dir / json_name),
        write_csv(report, out_dir / csv_name),
        write_html(report, out_dir / html_name, max_crops=MAX_CROP_IMAGES if max_crops is None else max_crops),
    ]
