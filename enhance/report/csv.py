"""``report.csv``: one row per image, ``before``/``after``/``delta`` columns per metric."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from .model import displayable

__all__ = ["write_csv", "csv_columns"]


def csv_columns(report: dict[str, Any]) -> list[str]:
    """The header: file facts, three columns per metric, the pick columns when ranked, and the
    content-credential columns when a file has some."""
    columns = ["relative", "status", "error", "input_width", "input_height", "output_width", "output_height"]
    for info in report["metrics"]:
        columns += [f"{info['name']}_before", f"{info['name']}_after", f"{info['name']}_delta"]
    if report["ranking"]:
        columns += ["group", "rank", "pick_score", "picked"]
    if report.get("credentials"):
        columns += ["credentials_source", "credentials_output"]
    return columns


#: first characters that make a spreadsheet read a text cell as a formula (OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A value as written: numbers as numbers (negative deltas included), None empty, and text
    that a spreadsheet would run as a formula (a file named ``=HYPERLINK(...).png``) prefixed with
    ``'`` so it stays text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        value = displayable(value)
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return value


def write_csv(report: dict[str, Any], path: Path) -> Path:
    """Write the per-image table to ``path`` atomically (UTF-8, comma-separated, header first).

    Rows end in CRLF (RFC 4180): with that terminator Python's csv quotes a field holding a lone
    CR, so a file name with one cannot break its row and start a forged one."""
    from ..files import atomic_write_text

    columns = csv_columns(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in report["files"]:
        size_in = row["size"].get("input") or [None, None]
        size_out = row["size"].get("output") or [None, None]
        line: dict[str, Any] = {
            "relative": row["relative"],
            "status": row["status"],
            "error": row["error"],
            "input_width": size_in[0],
            "input_height": size_in[1],
            "output_width": size_out[0],
            "output_height": size_out[1],
        }
        for info in report["metrics"]:
            entry = row["scores"].get(info["name"], {})
            for part in ("before", "after", "delta"):
                line[f"{info['name']}_{part}"] = entry.get(part)
        if report["ranking"]:
            pick = row["pick"] or {}
            line.update(group=pick.get("group"), rank=pick.get("rank"), pick_score=pick.get("score"))
            line["picked"] = "yes" if pick.get("picked") else ("no" if pick else None)
        if report.get("credentials"):
            credentials = row.get("credentials") or {}
            line.update(credentials_source=credentials.get("source"), credentials_output=credentials.get("output"))
        writer.writerow({k: _cell(v) for k, v in line.items()})
    atomic_write_text(path, buffer.getvalue())
    return path
