"""``report.json``: the report's content as strict JSON (non-finite numbers become null)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_json"]


def write_json(report: dict[str, Any], path: Path) -> Path:
    """Write ``report`` (from :func:`~enhance.report.model.build_report`) to ``path`` atomically."""
    from ..files import atomic_write_text

    # ASCII with escapes: a file name whose bytes are not UTF-8 round-trips exactly
    text = json.dumps(report, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
    atomic_write_text(path, text, encoding="ascii")
    return path
