"""``report.html``: one self-contained page (inline CSS, JS, SVG and images; no network).

It shows the batch summary, a plot of each metric's deltas over the batch, a table sortable by any
column (click a header), the ranking when candidates were picked, and per image the
highest-texture and most-banded regions of before and after side by side, zoomed with square
pixels. Crops are embedded as PNG data URIs, so the page is one file that can be mailed around;
to keep it a sensible size only the first ``max_crops`` images get crops.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from .model import displayable, improvement

__all__ = ["write_html", "render_html", "MAX_CROP_IMAGES"]

MAX_CROP_IMAGES = 50

_CSS = """
:root { --ink: #1d2329; --muted: #5b6670; --line: #d8dde2; --better: #1b7f3b; --worse: #b3261e; --bg: #f7f8f9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1400px; padding: 24px; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 0 0 6px; }
p.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
thead th { background: var(--bg); position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable thead th[aria-sort=descending]::after { content: " \\25BC"; }
.better { color: var(--better); } .worse { color: var(--worse); }
.scroll { overflow-x: auto; max-height: 70vh; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; } .plots figcaption { color: var(--muted); font-size: 12px; }
article.image { border-top: 1px solid var(--line); padding: 12px 0; }
.crops { display: flex; flex-wrap: wrap; gap: 24px; }
.crop { display: flex; gap: 6px; align-items: flex-start; }
.crop figure { margin: 0; text-align: center; font-size: 12px; color: var(--muted); }
.crop img { width: 320px; height: auto; image-rendering: pixelated; border: 1px solid var(--line); display: block; }
.label { font-size: 12px; color: var(--muted); margin-bottom: 4px; }
.picked { font-weight: 600; }
"""

_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null || v === "") { return null; }
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function compare(a, b, dir) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === typeof b) { return (a < b ? -1 : a > b ? 1 : 0) * dir; }
    return (typeof a === "number" ? -1 : 1) * dir;
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) { return compare(key(r1.cells[column]), key(r2.cells[column]), dir); });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else displayable(str(text)), quote=True)


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}" if magnitude < 100 else f"{value:.1f}"


def _num_cell(value: float | None, css: str = "") -> str:
    data = "" if value is None else repr(float(value))
    cls = f' class="{css}"' if css else ""
    return f'<td data-v="{data}"{cls}>{_fmt(value)}</td>'


def _verdict_class(delta: float | None, higher_is_better: bool, scale: float | None) -> str:
    return {1: "better", -1: "worse", 0: ""}[improvement(delta, higher_is_better, scale or 0.0)]


def _compared(report: dict[str, Any]) -> bool:
    """Whether any metric has a "before" (a run, or scores against references)."""
    return any(s["before_mean"] is not None for s in report["summary"].values())


def _summary_table(report: dict[str, Any]) -> str:
    compared = _compared(report)
    before, after = report["labels"]["before"], report["labels"]["after"]
    if compared:
        head = (
            f"<tr><th>metric</th><th>direction</th><th>mean {before}</th><th>mean {after}</th><th>mean Δ</th>"
            "<th>median Δ</th><th>improved</th><th>worse</th><th>unchanged</th></tr>"
        )
    else:
        head = f"<tr><th>metric</th><th>direction</th><th>mean {after}</th><th>lowest</th><th>highest</th></tr>"
    rows = []
    for info in report["metrics"]:
        s = report["summary"][info["name"]]
        direction = "higher is better" if info["higher_is_better"] else "lower is better"
        unit = f" ({_e(info['unit'])})" if info["unit"] else ""
        cells = f'<td title="{_e(info["description"])}">{_e(info["name"])}{unit}</td><td class="text">{direction}</td>'
        if compared:
            verdict = _verdict_class(s["delta_mean"], info["higher_is_better"], s["after_mean"])
            cells += (
                _num_cell(s["before_mean"])
                + _num_cell(s["after_mean"])
                + _num_cell(s["delta_mean"], verdict)
                + _num_cell(s["delta_median"])
                + f'<td class="better">{s["improved"]}</td><td class="worse">{s["worse"]}</td>'
                + f"<td>{s['unchanged']}</td>"
            )
        else:
            cells += _num_cell(s["after_mean"]) + _num_cell(s["after_min"]) + _num_cell(s["after_max"])
        rows.append(f"<tr>{cells}</tr>")
    return f'<table id="summary-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _plot(info: dict[str, Any], points: list[tuple[str, float]], what: str) -> str:
    """An inline SVG strip of one value per image, sorted, with the zero line for deltas."""
    width, height = 360, 150
    left, right, top, bottom = 52, 12, 26, 10
    values = [v for _, v in points]
    low, high = min([*values, 0.0] if what == "delta" else values), max([*values, 0.0] if what == "delta" else values)
    if math.isclose(low, high):
        low, high = low - 1.0, high + 1.0
    ordered = sorted(points, key=lambda p: p[1])
    step = (width - left - right) / max(1, len(ordered) - 1)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (high - v) / (high - low)

    label = 'font-size="10" text-anchor="end" fill="#5b6670"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(info["name"])} {what} per image">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff" stroke="#d8dde2"/>',
        f'<text x="{left}" y="16" font-size="12" fill="#1d2329">{_e(info["name"])} {what}</text>',
        f'<text x="{left - 6}" y="{y(high) + 4:.1f}" {label}>{_fmt(high)}</text>',
        f'<text x="{left - 6}" y="{y(low) + 4:.1f}" {label}>{_fmt(low)}</text>',
        f'<line x1="{left - 2}" x2="{left - 2}" y1="{top}" y2="{height - bottom}" stroke="#d8dde2"/>',
    ]
    if what == "delta":
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
            'stroke="#5b6670" stroke-dasharray="3 3"/>'
        )
    for i, (name, value) in enumerate(ordered):
        colour = "#2b6cb0"
        if what == "delta":
            verdict = improvement(value, info["higher_is_better"])
            colour = {1: "#1b7f3b", -1: "#b3261e", 0: "#5b6670"}[verdict]
        cx = left + i * step if len(ordered) > 1 else (left + width - right) / 2
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{y(value):.1f}" r="3.5" fill="{colour}">'
            f"<title>{_e(name)}: {_fmt(value)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _plots(report: dict[str, Any]) -> str:
    figures = []
    for info in report["metrics"]:
        name = info["name"]
        deltas = [(r["relative"], r["scores"][name]["delta"]) for r in report["files"] if name in r["scores"]]
        points = [(n, v) for n, v in deltas if v is not None]
        what = "delta"
        if not points:
            what = "value"
            points = [
                (r["relative"], r["scores"][name]["after"])
                for r in report["files"]
                if name in r["scores"] and r["scores"][name]["after"] is not None
            ]
        if points:
            direction = "higher is better" if info["higher_is_better"] else "lower is better"
            caption = f"{len(points)} images, sorted; {direction}"
            figures.append(f"<figure>{_plot(info, points, what)}<figcaption>{caption}</figcaption></figure>")
    return f'<div class="plots">{"".join(figures)}</div>' if figures else "<p>No scores to plot.</p>"


def _files_table(report: dict[str, Any], crops_for: set[int]) -> str:
    head = ["<th>file</th><th>status</th>"]
    before, after = report["labels"]["before"], report["labels"]["after"]
    compared = _compared(report)
    for info in report["metrics"]:
        n = _e(info["name"])
        head.append(f"<th>{n} {before}</th><th>{n} {after}</th><th>{n} Δ</th>" if compared else f"<th>{n}</th>")
    ranked = bool(report["ranking"])
    if ranked:
        head.append("<th>group</th><th>rank</th><th>pick score</th>")
    credentials = bool(report.get("credentials"))
    if credentials:
        head.append("<th>source content credentials</th><th>output content credentials</th>")
    rows = []
    for index, row in enumerate(report["files"]):
        name = _e(row["relative"])
        link = f'<a href="#image-{index}">{name}</a>' if index in crops_for else name
        title = f' title="{_e(row["error"])}"' if row["error"] else ""
        status = _e(row["status"])
        cells = [
            f'<td class="text" data-v="{name}">{link}</td>',
            f'<td class="text" data-v="{status}"{title}>{status}</td>',
        ]
        for info in report["metrics"]:
            entry = row["scores"].get(info["name"], {})
            if not compared:
                cells.append(_num_cell(entry.get("after")))
                continue
            cells.append(_num_cell(entry.get("before")))
            cells.append(_num_cell(entry.get("after")))
            verdict = _verdict_class(entry.get("delta"), info["higher_is_better"], entry.get("after"))
            cells.append(_num_cell(entry.get("delta"), verdict))
        if ranked:
            pick = row["pick"] or {}
            cells.append(f'<td class="text" data-v="{_e(pick.get("group"))}">{_e(pick.get("group"))}</td>')
            cells.append(_num_cell(pick.get("rank"), "picked" if pick.get("picked") else ""))
            cells.append(_num_cell(pick.get("score")))
        if credentials:
            texts = row.get("credentials") or {}
            for part in ("source", "output"):
                text = _e(texts.get(part) or "")
                cells.append(f'<td class="text" data-v="{text}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table id="files-table" class="sortable"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _ranking(report: dict[str, Any]) -> str:
    if not report["ranking"]:
        return ""
    blocks = []
    for group in report["ranking"]:
        items = []
        for c in group["candidates"]:
            mark = " ✔ picked" if c["picked"] else ""
            where = f" → {_e(c['copied_to'])}" if c.get("copied_to") else ""
            cls = ' class="picked"' if c["picked"] else ""
            items.append(f"<li{cls}>{_e(c['relative'])} — score {_fmt(c['score'])}{mark}{where}</li>")
        blocks.append(f"<h3>{_e(group['group'])}</h3><ol>{''.join(items)}</ol>")
    rule = f'<p class="meta">Ranked by {_e(report["ranked_by"])}.</p>' if report.get("ranked_by") else ""
    return '<section id="ranking"><h2>Ranking</h2>' + rule + "".join(blocks) + "</section>"


def _image_paths(row: dict[str, Any], kind: str) -> tuple[str | None, str | None]:
    """(before, after) files of a row: a run compares input → output; score/pick show the scored
    file, against its reference when there is one."""
    if kind == "run":
        return row.get("input"), row.get("output")
    return row.get("reference"), row.get("input")


def _crops_section(report: dict[str, Any], max_crops: int) -> tuple[str, set[int]]:
    import torch

    from ..io import read
    from .crops import crop_pair

    articles, shown = [], set()
    for index, row in enumerate(report["files"]):
        if len(shown) >= max_crops:
            break
        if row["status"] == "failed" or not row["scores"]:  # skipped-but-scored files (done earlier) count
            continue
        before_path, after_path = _image_paths(row, report["kind"])
        if not after_path or not Path(after_path).is_file():
            continue
        try:
            with torch.no_grad():
                after = read(after_path, "cpu").pixels
                before = read(before_path, "cpu").pixels if before_path and Path(before_path).is_file() else None
                crops = crop_pair(after, before)
        except Exception as exc:  # a report must not fail for one unreadable image
            articles.append(
                f'<article class="image" id="image-{index}"><h3>{_e(row["relative"])}</h3>'
                f"<p>crops unavailable: {_e(exc)}</p></article>"
            )
            shown.add(index)
            continue
        blocks = []
        for crop in crops:
            figures = []
            captions = ("before", "after") if report["kind"] == "run" else ("reference", "image")
            for which, uri in zip(captions, (crop.before, crop.after), strict=True):
                if uri is not None:
                    alt = f"{which}: {_e(crop.label)}"
                    figures.append(f'<figure><img src="{uri}" alt="{alt}"><figcaption>{which}</figcaption></figure>')
            pair = "".join(figures)
            blocks.append(f'<div><div class="label">{_e(crop.label)}</div><div class="crop">{pair}</div></div>')
        articles.append(
            f'<article class="image" id="image-{index}"><h3>{_e(row["relative"])}</h3>'
            f'<div class="crops">{"".join(blocks)}</div></article>'
        )
        shown.add(index)
    if not articles:
        return "", shown
    done = sum(1 for r in report["files"] if r["status"] != "failed" and r["scores"])
    note = f'<p class="meta">Crops for the first {len(shown)} of {done} images.</p>' if len(shown) < done else ""
    return f'<section id="crops"><h2>Before / after detail</h2>{note}{"".join(articles)}</section>', shown


def render_html(report: dict[str, Any], *, max_crops: int = MAX_CROP_IMAGES) -> str:
    """The page as a string."""
    counts = report["counts"]
    meta = [f"generated {_e(report['generated'])}", f"enhance {_e(report['enhance_version'])}"]
    if report.get("pipeline"):
        meta.append(f"pipeline {_e(report['pipeline'])}")
    if report.get("device"):
        meta.append(f"device {_e(report['device'])}")
    tally = (
        f"{counts['total']} files: {counts['done']} done, {counts['skipped']} skipped, "
        f"{counts['failed']} failed; {counts['scored']} scored"
    )
    modes = sorted({row["scores_at"]["mode"] for row in report["files"] if isinstance(row.get("scores_at"), dict)})
    if modes:
        explained = {
            "output": "before resampled to the output size",
            "input": "after resampled to the input size",
            "native": "each at its own size (size-independent metrics only)",
        }
        tally += "<br>Compared " + "; ".join(_e(explained.get(m, m)) for m in modes) + "."
    crops, shown = _crops_section(report, max_crops)
    has_metrics = bool(report["metrics"])
    plots_title = "Metric changes over the batch" if _compared(report) else "Metrics over the batch"
    sections = [
        f'<header><h1>{_e(report["title"])}</h1><p class="meta">{" · ".join(meta)}</p><p>{tally}</p></header>',
        f'<section id="summary"><h2>Batch summary</h2>{_summary_table(report)}</section>' if has_metrics else "",
        f'<section id="plots"><h2>{plots_title}</h2>{_plots(report)}</section>' if has_metrics else "",
        f'<section id="files"><h2>Per image</h2><p class="meta">Click a column header to sort.</p>'
        f"{_files_table(report, shown)}</section>",
        _ranking(report),
        crops,
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(report['title'])}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + f"<script>{_JS}</script></body></html>\n"
    )


def write_html(report: dict[str, Any], path: Path, *, max_crops: int = MAX_CROP_IMAGES) -> Path:
    """Write the page to ``path`` atomically."""
    from ..files import atomic_write_text

    atomic_write_text(path, render_html(report, max_crops=max_crops))
    return path
