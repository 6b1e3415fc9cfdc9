"""``enhance score``: folders and files, reference pairing, reports, exit codes and messages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from enhance.cli import app
from enhance.metrics import psnr_y, sharpness, ssim

from ..conftest import KODAK
from ..metrics.images import gaussian_blur, load_planes, save_planes
from ..outfolders import held_by_another_process

runner = CliRunner()


def photo(name: str, size: int = 96) -> torch.Tensor:
    return load_planes(KODAK / name)[:, 120 : 120 + size, 200 : 200 + size]


def score(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["score", *args, "--device", "cpu"])


@pytest.mark.shared
def test_folder_without_reference(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    save_planes(photo("kodim01.png"), tmp_path / "in" / "a.png")
    save_planes(gaussian_blur(photo("kodim01.png"), 2.0), tmp_path / "in" / "b.png")
    result = score(str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "--metrics", "sharpness,entropy")
    assert result.exit_code == 0, result.output
    assert "a.png  sharpness=" in result.stdout
    with open(tmp_path / "rep" / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["relative"] for r in rows] == ["a.png", "b.png"]
    assert float(rows[0]["sharpness_after"]) > float(rows[1]["sharpness_after"])
    assert rows[0]["sharpness_before"] == "" and rows[0]["input_width"] == "96"
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["kind"] == "score" and (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.shared
def test_reference_pairing_by_path_then_stem(tmp_path: Path) -> None:
    hr = {"a/x.png": photo("kodim03.png"), "other/y.png": photo("kodim04.png")}
    for relative, planes in hr.items():
        (tmp_path / "hr" / relative).parent.mkdir(parents=True, exist_ok=True)
        save_planes(planes, tmp_path / "hr" / relative)
    (tmp_path / "sr" / "a").mkdir(parents=True)
    save_planes(gaussian_blur(hr["a/x.png"], 1.0), tmp_path / "sr" / "a" / "x.png")
    save_planes(gaussian_blur(hr["other/y.png"], 1.0), tmp_path / "sr" / "y.png")
    result = score(
        str(tmp_path / "sr"),
        "-R",
        "--reference",
        str(tmp_path / "hr"),
        "-o",
        str(tmp_path / "rep"),
        "--crop-border",
        "4",
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    rows = {r["relative"]: r for r in data["files"]}
    assert rows["y.png"]["reference"].endswith("other/y.png") and rows["a/x.png"]["reference"].endswith("a/x.png")
    sr, ref = load_planes(tmp_path / "sr" / "a" / "x.png"), load_planes(tmp_path / "hr" / "a" / "x.png")
    scores = rows["a/x.png"]["scores"]
    assert scores["psnr_y"]["after"] == pytest.approx(psnr_y(sr, ref, crop_border=4))
    assert scores["ssim"]["after"] == pytest.approx(ssim(sr, ref, crop_border=4))
    # no-reference metrics: the reference's value is "before", the file's "after"
    assert scores["sharpness"]["before"] == pytest.approx(sharpness(ref), rel=1e-5)
    assert scores["sharpness"]["delta"] < 0


@pytest.mark.shared
def test_missing_reference_fails_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "sr").mkdir()
    (tmp_path / "hr").mkdir()
    save_planes(photo("kodim05.png"), tmp_path / "sr" / "p.png")
    save_planes(photo("kodim05.png"), tmp_path / "hr" / "p.png")
    save_planes(photo("kodim06.png"), tmp_path / "sr" / "q.png")
    result = score(str(tmp_path / "sr"), "--reference", str(tmp_path / "hr"), "-o", str(tmp_path / "rep"))
    assert result.exit_code == 1
    assert "failed: q.png: no reference found in" in result.stderr
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    statuses = {r["relative"]: r["status"] for r in data["files"]}
    assert statuses == {"p.png": "done", "q.png": "failed"}
    assert data["files"][0]["scores"]["psnr"]["after"] is None  # identical: infinite PSNR is null in JSON


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    save_planes(noise(), tmp_path / "n.png")
    result = score(str(tmp_path / "n.png"), "--metrics", "psnr_y", "-o", str(tmp_path / "rep"))
    assert (
        result.exit_code == 2 and "psnr_y compare(s) against a reference image: give --reference DIR" in result.stderr
    )
    result = score(str(tmp_path / "n.png"), "--metrics", "sharpnes", "-o", str(tmp_path / "rep"))
    assert result.exit_code == 2 and "unknown metric 'sharpnes'; known metrics: sharpness" in result.stderr
    result = score(str(tmp_path / "nothing"), "-o", str(tmp_path / "rep"))
    assert result.exit_code == 2 and "input not found" in result.stderr
    assert not (tmp_path / "rep").exists()


@pytest.mark.slow
def test_help_does_not_import_torch() -> None:
    import subprocess
    import sys

    for command in ("score", "pick"):
        code = f"import sys; from enhance.cli import app; sys.argv = ['enhance', '{command}', '--help']\n"
        code += "try:\n    app()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip().endswith("False"), out.stdout


def test_list() -> None:
    result = runner.invoke(app, ["score", "--list"])
    assert result.exit_code == 0
    assert "sharpness" in result.stdout and "full-reference" in result.stdout and "lower is better" in result.stdout


def noise() -> torch.Tensor:
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("metric", ["psnr_y", "sharpness"])
def test_reference_with_metrics_of_one_kind_only(tmp_path: Path, metric: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "ref").mkdir()
    save_planes(noise(), tmp_path / "ref" / "a.png")
    save_planes(gaussian_blur(noise(), 1.0), tmp_path / "in" / "a.png")
    result = score(
        str(tmp_path / "in"), "--reference", str(tmp_path / "ref"), "-m", metric, "-o", str(tmp_path / "rep")
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["files"][0]["status"] == "done"
    assert data["files"][0]["scores"][metric]["after"] > 0


def test_one_metric_failing_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "ref").mkdir()
    thin = torch.rand(3, 6, 40, generator=torch.Generator().manual_seed(1))  # too small for SSIM's 11x11
    save_planes(thin, tmp_path / "ref" / "a.png")
    save_planes((thin + 0.05).clamp(0, 1), tmp_path / "in" / "a.png")
    result = score(
        str(tmp_path / "in"), "--reference", str(tmp_path / "ref"), "-m", "psnr,ssim", "-o", str(tmp_path / "rep")
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "rep" / "report.json").read_text())["files"][0]
    assert record["status"] == "done" and record["error"] is None
    assert record["scores"]["psnr"]["after"] > 20 and record["scores"]["ssim"]["after"] is None
    assert any("ssim" in w and "SSIM needs at least 11x11" in w for w in record["warnings"]), record["warnings"]
    assert "warning: a.png: score: ssim" in result.stderr


def test_file_fails_when_no_metric_or_a_size_mismatch(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "ref").mkdir()
    thin = torch.rand(3, 6, 40, generator=torch.Generator().manual_seed(1))
    save_planes(thin, tmp_path / "ref" / "a.png")
    save_planes(thin, tmp_path / "in" / "a.png")
    save_planes(noise(), tmp_path / "ref" / "b.png")
    save_planes(noise()[:, :16], tmp_path / "in" / "b.png")
    result = score(
        str(tmp_path / "in"), "--reference", str(tmp_path / "ref"), "-m", "ssim", "-o", str(tmp_path / "rep")
    )
    assert result.exit_code == 1
    records = {r["relative"]: r for r in json.loads((tmp_path / "rep" / "report.json").read_text())["files"]}
    assert records["a.png"]["status"] == "failed" and "no metric could be computed" in records["a.png"]["error"]
    assert records["b.png"]["status"] == "failed" and "32x16 but its reference" in records["b.png"]["error"]


def test_reference_exact_path_wins_and_ambiguity_fails(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    for name in ("in", "ref"):
        (tmp_path / name).mkdir()
    save_planes(noise(), tmp_path / "in" / "x.png")
    save_planes(noise(), tmp_path / "ref" / "x.png")  # identical: infinite PSNR
    save_planes(1 - noise(), tmp_path / "ref" / "x.webp")
    save_planes(noise(), tmp_path / "in" / "y.png")
    for suffix in (".webp", ".tif"):  # neither is exact: ambiguous
        PILImage.open(tmp_path / "ref" / "x.png").save(tmp_path / "ref" / f"y{suffix}")
    result = score(
        str(tmp_path / "in"), "--reference", str(tmp_path / "ref"), "-m", "psnr", "-o", str(tmp_path / "rep")
    )
    assert result.exit_code == 1
    records = {r["relative"]: r for r in json.loads((tmp_path / "rep" / "report.json").read_text())["files"]}
    assert records["x.png"]["status"] == "done" and records["x.png"]["reference"].endswith("ref/x.png")
    assert records["y.png"]["status"] == "failed"
    assert (
        "several references match" in records["y.png"]["error"]
        and "y.tif, y.webp; keep one" in records["y.png"]["error"]
    )


def test_input_folder_inside_the_output_folder_is_scored(tmp_path: Path) -> None:
    (tmp_path / "out" / "in").mkdir(parents=True)
    save_planes(noise(), tmp_path / "out" / "in" / "n.png")
    result = score(str(tmp_path / "out" / "in"), "-o", str(tmp_path / "out"), "--metrics", "entropy")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["relative"] for r in data["files"]] == ["n.png"]


def test_names_at_the_file_system_limit_are_scored(tmp_path: Path) -> None:
    longest = "n" * 251 + ".png"
    (tmp_path / "in").mkdir()
    save_planes(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / longest)
    result = score(str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "--metrics", "sharpness")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["relative"] for r in report["files"]] == [longest] and report["counts"]["scored"] == 1


def test_a_report_folder_another_command_holds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    save_planes(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / "a.png")
    with held_by_another_process(tmp_path / "rep") as holder:
        result = score(str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "--metrics", "sharpness")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and f"another enhance command (pid {holder.pid}" in result.stderr
    assert not (tmp_path / "rep" / "report.json").exists()


def test_a_name_that_is_not_utf8_is_scored_into_every_report(tmp_path: Path) -> None:
    import os

    name = os.fsdecode(b"caf\xe9.png")
    (tmp_path / "in").mkdir()
    save_planes(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / name)
    result = score(str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "--metrics", "sharpness")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="ascii"))
    assert [r["relative"] for r in report["files"]] == [name]
    assert "caf\\xe9.png" in (tmp_path / "rep" / "report.csv").read_text(encoding="utf-8")
    assert "caf\\xe9.png" in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "caf\\xe9.png  sharpness=" in result.stdout  # printed escaped: a strict UTF-8 terminal takes it


def test_a_report_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real_replace = os.replace

    def replace(source, target, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(target).name == "report.csv":
            raise OSError(28, os.strerror(28), str(target))
        return real_replace(source, target, *args, **kwargs)

    (tmp_path / "in").mkdir()
    save_planes(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / "a.png")
    monkeypatch.setattr(os, "replace", replace)
    result = score(str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "--metrics", "sharpness")
    assert result.exit_code == 1 and "internal error" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if "report.csv" in line]
    assert line.startswith("enhance: error: ") and "(No space left on device)" in line
    assert (tmp_path / "rep" / "report.json").is_file() and not (tmp_path / "rep" / "report.csv").exists()
