"""report.json / report.csv / report.html from a manifest: content, strictness, atomicity, crops."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

from enhance.report import REPORT_NAMES, write_reports
from enhance.report.crops import banded_region, crop_pair, texture_region
from enhance.report.model import build_report

from ..metrics.images import save_planes


def record(name: str, scores: dict, status: str = "done", **extra: object) -> dict:
    return {
        "input": f"/nowhere/in/{name}",
        "relative": name,
        "output": f"/nowhere/out/{name}",
        "status": status,
        "error": None if status == "done" else "bad file",
        "timings": {},
        "size": {"input": [10, 8], "output": [20, 16]},
        "results": {"scores": scores} if scores else {},
        "warnings": [],
        **extra,
    }


MANIFEST = {
    "pipeline": "restore-4k",
    "device": "cpu",
    "files": [
        record(
            "a.png",
            {
                "sharpness": {"before": 10.0, "after": 14.0, "delta": 4.0},
                "banding": {"before": 2.0, "after": 0.5, "delta": -1.5},
            },
        ),
        record(
            "sub/b.png",
            {
                "sharpness": {"before": 12.0, "after": 11.0, "delta": -1.0},
                "banding": {"before": 1.0, "after": float("inf"), "delta": float("nan")},
            },
        ),
        record("c.png", {}, status="failed"),
    ],
}


def test_summary_directions_and_strict_numbers() -> None:
    report = build_report(MANIFEST)
    assert [m["name"] for m in report["metrics"]] == ["sharpness", "banding"]
    assert report["counts"] == {"total": 3, "done": 2, "skipped": 0, "failed": 1, "scored": 2}
    sharp, band = report["summary"]["sharpness"], report["summary"]["banding"]
    assert (sharp["improved"], sharp["worse"], sharp["delta_mean"]) == (1, 1, 1.5)
    assert (band["improved"], band["worse"]) == (1, 0)  # lower banding is better; inf/nan are dropped
    assert report["files"][1]["scores"]["banding"] == {"before": 1.0, "after": None, "delta": None}


def test_write_reports(tmp_path: Path) -> None:
    written = write_reports(MANIFEST, tmp_path / "out")
    assert [p.name for p in written] == list(REPORT_NAMES)
    data = json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert data["files"][0]["scores"]["sharpness"]["delta"] == 4.0
    with open(tmp_path / "out" / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["relative"] for r in rows] == ["a.png", "sub/b.png", "c.png"]
    assert list(rows[0])[7:] == [
        "sharpness_before",
        "sharpness_after",
        "sharpness_delta",
        "banding_before",
        "banding_after",
        "banding_delta",
    ]
    assert (rows[0]["sharpness_delta"], rows[1]["banding_after"], rows[2]["status"]) == ("4", "", "failed")
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="files-table" class="sortable"' in page
    assert re.search(r'(src|href)="(?!data:|#)', page) is None  # self-contained: nothing to fetch
    assert not [p for p in (tmp_path / "out").iterdir() if p.name not in REPORT_NAMES]  # no temp files left


def test_crops_embed_before_and_after(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    before = torch.rand(3, 48, 64, generator=g)
    after = torch.nn.functional.interpolate(before[None], scale_factor=2, mode="bicubic")[0].clamp(0, 1)
    manifest = {"files": [record("x.png", {"entropy": {"before": 1.0, "after": 1.0, "delta": 0.0}})]}
    manifest["files"][0].update(
        input=str(save_planes(before, tmp_path / "x_in.png")), output=str(save_planes(after, tmp_path / "x_out.png"))
    )
    page = write_reports(manifest, tmp_path / "rep")[2].read_text()
    assert page.count('src="data:image/png;base64,') == 4  # two regions x before/after
    assert 'href="#image-0"' in page
    assert write_reports(manifest, tmp_path / "rep2", max_crops=0)[2].read_text().count("data:image/png") == 0


def quadrants() -> torch.Tensor:
    """Top-left: noise (texture); top-right: a gentle ramp (where bands show); bottom: flat."""
    x = torch.full((3, 256, 256), 0.5)
    x[:, :128, :128] = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(1))
    x[:, :128, 128:] = torch.linspace(0.3, 0.6, 128).view(1, 1, 128)
    return x


def test_regions_find_texture_and_smooth_gradient() -> None:
    x = quadrants()
    box = texture_region(x, side=64)
    assert box.left + box.width <= 0.5 and box.top + box.height <= 0.5
    box, how = banded_region(x, side=64)
    if how == "smooth-gradient fallback":
        assert box.left >= 0.5 and box.top + box.height <= 0.5
    assert box.pixels(256, 256)[2:] == (64, 64)


def test_crop_pair_lines_up_different_sizes() -> None:
    x = quadrants()
    small = torch.nn.functional.avg_pool2d(x[None], 2)[0]
    crops = crop_pair(x, small)
    assert len(crops) == 2 and all(c.before and c.after for c in crops)
    assert crops[0].box.pixels(256, 256)[2:] == (160, 160)


def test_csv_text_cells_cannot_become_formulas(tmp_path: Path) -> None:
    names = ["=HYPERLINK(x).png", "+1.png", "-cmd.png", "@sum.png", "\tx.png", "\rx.png", "a\r=1+1.png", "fine.png"]
    manifest = {
        "files": [
            record(name, {"sharpness": {"before": 12.0, "after": 11.0, "delta": -1.0}}, status="failed")
            for name in names
        ]
    }
    manifest["files"][0]["error"] = "=1+1"
    write_reports(manifest, tmp_path / "out")
    with open(tmp_path / "out" / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["relative"] for r in rows] == ["'" + n for n in names[:-2]] + names[-2:]  # CR quoted: one row
    assert rows[0]["error"] == "'=1+1" and rows[1]["error"] == "bad file"
    assert rows[0]["sharpness_delta"] == "-1"  # numbers stay numbers, negative ones included
