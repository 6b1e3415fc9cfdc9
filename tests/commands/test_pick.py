"""``enhance pick``: group candidates, rank them, copy or link the best, ranking in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enhance.cli import app
from enhance.errors import ConfigError
from enhance.metrics.picking import parse_weights

from ..conftest import KODAK
from ..metrics.images import gaussian_blur, load_planes, save_planes

runner = CliRunner()


def candidates(folder: Path, layout: str = "folder") -> None:
    """Per prompt: seed0 sharp, seed1 a little blurred, seed2 blurred more."""
    for prompt, photo in (("lighthouse", "kodim19.png"), ("harbour", "kodim13.png")):
        x = load_planes(KODAK / photo)[:, 200:296, 200:296]
        for seed, sigma in enumerate((0.0, 0.8, 2.0)):
            target = folder / prompt / f"seed{seed}.png" if layout == "folder" else folder / f"{prompt}_seed{seed}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            save_planes(gaussian_blur(x, sigma) if sigma else x, target)


def pick(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["pick", *args, "--device", "cpu"])


@pytest.mark.shared
def test_folder_per_prompt_copies_the_sharpest(tmp_path: Path) -> None:
    candidates(tmp_path / "in")
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 0, result.output
    picked = sorted(p.relative_to(tmp_path / "best").as_posix() for p in (tmp_path / "best").rglob("*.png"))
    assert picked == ["harbour/seed0.png", "lighthouse/seed0.png"]
    assert (tmp_path / "best" / "harbour" / "seed0.png").read_bytes() == (
        tmp_path / "in" / "harbour" / "seed0.png"
    ).read_bytes()
    report = json.loads((tmp_path / "best" / "report.json").read_text())
    ranking = {g["group"]: [c["relative"] for c in g["candidates"]] for g in report["ranking"]}
    assert ranking["lighthouse"] == ["lighthouse/seed0.png", "lighthouse/seed1.png", "lighthouse/seed2.png"]
    assert "rank" in (tmp_path / "best" / "report.csv").read_text().splitlines()[0]


@pytest.mark.shared
def test_pattern_weights_top_and_links(tmp_path: Path) -> None:
    candidates(tmp_path / "in", layout="flat")
    save_planes(load_planes(KODAK / "kodim01.png")[:, :64, :64], tmp_path / "in" / "stray.png")
    result = pick(
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "best"),
        "--group-by",
        "pattern",
        "--pattern",
        r"(.+)_seed\d+",
        "--weights",
        "sharpness=1,png_bpp=0.5",
        "--top",
        "2",
        "--link",
    )
    assert result.exit_code == 0, result.output
    links = sorted(p for p in (tmp_path / "best").rglob("*.png"))
    assert [p.relative_to(tmp_path / "best").as_posix() for p in links] == [
        "harbour/harbour_seed0.png",
        "harbour/harbour_seed1.png",
        "lighthouse/lighthouse_seed0.png",
        "lighthouse/lighthouse_seed1.png",
    ]
    assert all(p.is_symlink() and p.resolve().parent == (tmp_path / "in").resolve() for p in links)
    report = json.loads((tmp_path / "best" / "report.json").read_text())
    stray = next(r for r in report["files"] if r["relative"] == "stray.png")
    assert stray["status"] == "skipped"


@pytest.mark.shared
def test_lower_is_better_metric(tmp_path: Path) -> None:
    candidates(tmp_path / "in")
    result = pick(str(tmp_path / "in" / "harbour"), "-o", str(tmp_path / "best"), "--metric", "png_bpp")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "best").rglob("*.png")] == ["seed0.png"]


@pytest.mark.shared
def test_same_name_in_one_group_is_kept_apart(tmp_path: Path) -> None:
    x = load_planes(KODAK / "kodim19.png")[:, 200:264, 200:264]
    for folder, sigma in (("a", 0.0), ("b", 0.5)):
        (tmp_path / "in" / folder).mkdir(parents=True)
        save_planes(gaussian_blur(x, sigma) if sigma else x, tmp_path / "in" / folder / "cat_seed1.png")
    args = ["--group-by", "pattern", "--pattern", r"(.+)_seed\d+", "--top", "2"]
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"), *args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "best" / "cat").iterdir()) == ["cat_seed1-2.png", "cat_seed1.png"]


def test_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    out = str(tmp_path / "out")
    result = pick(str(tmp_path / "in"), "-o", out, "--metric", "sharpness", "--weights", "entropy=1")
    assert result.exit_code == 2 and "either --metric or --weights" in result.stderr
    result = pick(str(tmp_path / "in"), "-o", out, "--metric", "psnr")
    assert result.exit_code == 2 and "'psnr' is full-reference" in result.stderr
    result = pick(str(tmp_path / "in"), "-o", out, "--group-by", "pattern")
    assert result.exit_code == 2
    with pytest.raises(ConfigError, match="'sharpness' is not NAME=NUMBER"):
        parse_weights("sharpness")
    assert parse_weights("sharpness=1, banding=-2") == {"sharpness": 1.0, "banding": -2.0}


def test_rerun_into_the_same_folder_replaces_earlier_picks(tmp_path: Path) -> None:
    import torch

    (tmp_path / "in" / "prompt").mkdir(parents=True)
    for seed in range(3):  # the sharpest (least blurred) is seed0
        x = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(7))
        save_planes(gaussian_blur(x, seed) if seed else x, tmp_path / "in" / "prompt" / f"seed{seed}.png")
    source = tmp_path / "in" / "prompt" / "seed0.png"
    original = source.read_bytes()
    picked = tmp_path / "best" / "prompt" / "seed0.png"
    for mode in ("--link", "--link", "--copy"):
        result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"), *([mode] if mode == "--link" else []))
        assert result.exit_code == 0, (mode, result.output)
        assert picked.is_symlink() == (mode == "--link") and picked.read_bytes() == original
    assert source.read_bytes() == original and not source.is_symlink()
    assert sorted(p.name for p in picked.parent.iterdir()) == ["seed0.png"]  # no temporary left


def test_group_folder_linked_to_the_sources_is_refused(tmp_path: Path) -> None:
    import torch

    (tmp_path / "in" / "prompt").mkdir(parents=True)
    save_planes(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / "prompt" / "a.png")
    original = (tmp_path / "in" / "prompt" / "a.png").read_bytes()
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "prompt").symlink_to(tmp_path / "in" / "prompt", target_is_directory=True)
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"), "--link")
    assert result.exit_code == 2 and "picking it would write" in result.stderr
    assert (tmp_path / "in" / "prompt" / "a.png").read_bytes() == original
