"""``enhance pick``: group candidates, rank them, copy or link the best, ranking in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enhance.cli import app
from enhance.errors import ConfigError
from enhance.metrics.ranking import parse_weights

from ..conftest import KODAK
from ..metrics.images import gaussian_blur, load_planes, save_planes
from ..outfolders import held_by_another_process

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


# -- pick never writes onto an input, and decides so before anything is copied --------------------


def noisy(path: Path, seed: int = 0) -> Path:
    """A sharp candidate (noise ranks first by sharpness)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_planes(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)), path)


def flat(path: Path, grey: float = 0.5) -> Path:
    """A featureless candidate (ranks last by sharpness)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_planes(torch.full((3, 32, 32), grey), path)


def snapshot(*folders: Path) -> dict[str, tuple[bool, bytes]]:
    """Every file under ``folders``: whether it is a link, and its bytes."""
    return {
        str(p): (p.is_symlink(), p.read_bytes())
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


@pytest.mark.parametrize("mode", ["--copy", "--link"])
def test_output_that_is_an_input_folder_is_refused_before_any_copy(tmp_path: Path, mode: str) -> None:
    noisy(tmp_path / "A" / "g" / "n.png")
    kept = flat(tmp_path / "B" / "g" / "n.png")
    before = snapshot(tmp_path / "A", tmp_path / "B")
    result = pick(str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "B"), mode)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "\n" not in message and str(kept) in message, message
    assert f"inside one such as {tmp_path / 'B' / 'best'}" in message
    assert snapshot(tmp_path / "A", tmp_path / "B") == before  # no copy, no link, no report


def test_input_file_given_directly_is_never_written(tmp_path: Path) -> None:
    sharp = noisy(tmp_path / "A" / "g" / "n.png")
    kept = flat(tmp_path / "B" / "g" / "n.png")
    before = snapshot(tmp_path / "A", tmp_path / "B")
    result = pick(str(sharp), str(kept), "-o", str(tmp_path / "B"))
    assert result.exit_code == 2 and f"which is the input {kept}" in result.stderr, result.output
    assert snapshot(tmp_path / "A", tmp_path / "B") == before


def test_symlinked_input_folder_that_is_the_output_is_refused(tmp_path: Path) -> None:
    noisy(tmp_path / "A" / "g" / "n.png")
    flat(tmp_path / "B" / "g" / "n.png")
    (tmp_path / "L").symlink_to(tmp_path / "B", target_is_directory=True)
    before = snapshot(tmp_path / "A", tmp_path / "B")
    for output in (tmp_path / "B", tmp_path / "L"):
        result = pick(str(tmp_path / "A"), str(tmp_path / "L"), "-o", str(output), "--link")
        assert result.exit_code == 2 and "picking it would write" in result.stderr, result.output
    assert snapshot(tmp_path / "A", tmp_path / "B") == before


@pytest.mark.parametrize(
    ("name", "refusal"), [("g_1.png", "which is the input {}"), ("g_2.png", "inside the input folder {}")]
)
def test_pattern_group_folder_that_is_an_input_folder_is_refused(tmp_path: Path, name: str, refusal: str) -> None:
    noisy(tmp_path / "A" / "g_1.png")
    flat(tmp_path / "O" / "g" / name)  # an input folder that is also the group 'g' under -o O
    before = snapshot(tmp_path / "A", tmp_path / "O")
    args = ["--group-by", "pattern", "--pattern", r"(g)_\d"]
    result = pick(str(tmp_path / "A"), str(tmp_path / "O" / "g"), "-o", str(tmp_path / "O"), *args)
    assert result.exit_code == 2, result.output
    where = tmp_path / "O" / "g" / name if name == "g_1.png" else tmp_path / "O" / "g"
    assert refusal.format(where) in result.stderr, result.stderr
    assert snapshot(tmp_path / "A", tmp_path / "O") == before


def test_overlapping_inputs_nested_output_is_kept_apart(tmp_path: Path) -> None:
    noisy(tmp_path / "A" / "x.png")
    noisy(tmp_path / "A" / "sub" / "y.png", seed=1)
    flat(tmp_path / "A" / "sub" / "z.png")
    before = snapshot(tmp_path / "A")
    inputs = [str(tmp_path / "A"), str(tmp_path / "A" / "sub")]
    refused = pick(*inputs, "-o", str(tmp_path / "A" / "sub"))  # -o is an input folder
    assert refused.exit_code == 2 and f"inside the input folder {tmp_path / 'A' / 'sub'}" in refused.stderr
    assert snapshot(tmp_path / "A") == before
    for _ in range(2):  # -o strictly inside the inputs: discovery leaves it out, reruns replace
        result = pick(*inputs, "-o", str(tmp_path / "A" / "sub" / "best"), "--link")
        assert result.exit_code == 0, result.output
        assert {k: v for k, v in snapshot(tmp_path / "A").items() if "best" not in k} == before
    assert (tmp_path / "A" / "sub" / "best" / "sub" / "y.png").resolve() == (tmp_path / "A" / "sub" / "y.png")


def test_hard_link_to_an_input_in_the_output_is_refused(tmp_path: Path) -> None:
    source = noisy(tmp_path / "in" / "g" / "n.png")
    (tmp_path / "best" / "g").mkdir(parents=True)
    (tmp_path / "best" / "g" / "n.png").hardlink_to(source)
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 2 and f"which is the input {source}" in result.stderr, result.output


def test_refusal_comes_before_any_group_is_copied(tmp_path: Path) -> None:
    noisy(tmp_path / "in" / "a" / "x.png")
    noisy(tmp_path / "in" / "z" / "y.png")
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "z").symlink_to(tmp_path / "in" / "z", target_is_directory=True)
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 2 and "picking it would write" in result.stderr, result.output
    assert not (tmp_path / "best" / "a").exists(), "group 'a' was copied before the plan was checked"


def test_planned_file_where_a_folder_is_needed_is_refused_before_any_copy(tmp_path: Path) -> None:
    noisy(tmp_path / "A" / "g" / "b.png")  # picked to best/g/b.png
    noisy(tmp_path / "B" / "g" / "b.png" / "c.png", seed=1)  # picked to best/g/b.png/c.png
    result = pick(str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 2 and "which is picked as a file too" in result.stderr, result.output
    assert not (tmp_path / "best").exists()
    (tmp_path / "best").write_text("a file")
    result = pick(str(tmp_path / "A"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 2 and "not a folder" in result.stderr, result.output


@pytest.mark.parametrize("weight", ["inf", "-inf", "1e308", "-1e308", "nan", "1e7"])
def test_weights_that_are_not_finite_or_too_large_are_refused_before_any_copy(tmp_path: Path, weight: str) -> None:
    from enhance.metrics.ranking import ranking_for

    with pytest.raises(ConfigError, match="--weights"):
        parse_weights(f"sharpness={weight},entropy=1")
    with pytest.raises(ConfigError, match="--weights"):
        ranking_for(weights={"sharpness": float(weight), "entropy": 1.0})
    for seed in range(3):
        noisy(tmp_path / "in" / "g" / f"s{seed}.png", seed)
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", f"sharpness={weight},entropy=1")
    assert result.exit_code == 2 and "--weights" in result.stderr, result.output
    assert not (tmp_path / "out").exists()


def test_non_finite_metric_value_is_not_ranked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from enhance.metrics import registry

    real = registry.compute

    def compute(names, image, *args, **kwargs):  # type: ignore[no-untyped-def]
        values = real(names, image, *args, **kwargs)
        return {n: float("inf") if float(image.pixels.std()) == 0 else v for n, v in values.items()}

    monkeypatch.setattr(registry, "compute", compute)
    noisy(tmp_path / "in" / "g" / "a.png")
    noisy(tmp_path / "in" / "g" / "b.png", seed=1)
    flat(tmp_path / "in" / "g" / "c.png")
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", "sharpness=1,entropy=1")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    c = next(r for r in report["files"] if r["relative"] == "g/c.png")
    assert any("not ranked" in w for w in c["warnings"])


def test_rerun_with_links_into_a_nested_output_takes_no_link_as_a_candidate(tmp_path: Path) -> None:
    noisy(tmp_path / "in" / "g" / "a.png")
    flat(tmp_path / "in" / "g" / "b.png")
    for _ in range(3):
        result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "in" / "best"), "--link")
        assert result.exit_code == 0 and "2 scored" in result.stderr, result.output
    links = [p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*.png") if p.is_symlink()]
    assert links == ["best/g/a.png"]


def test_input_folder_inside_the_output_folder_is_picked_never_onto_itself(tmp_path: Path) -> None:
    out = tmp_path / "out"
    noisy(out / "in" / "g" / "a.png")
    flat(out / "in" / "g" / "b.png")
    result = pick(str(out / "in"), "-o", str(out))
    assert result.exit_code == 0 and "2 scored" in result.stderr, result.output
    assert (out / "g" / "a.png").read_bytes() == (out / "in" / "g" / "a.png").read_bytes()
    flat(out / "in" / "c.png")  # its group is the folder's own name, 'in': out/in/c.png is itself
    before = snapshot(out / "in")
    result = pick(str(out / "in"), "-o", str(out))
    assert result.exit_code == 2 and f"which is the input {out / 'in' / 'c.png'}" in result.stderr, result.output
    assert snapshot(out / "in") == before


def test_names_at_the_file_system_limit_are_picked_and_a_dedup_name_past_it_fails_alone(tmp_path: Path) -> None:
    import torch

    longest = "n" * 251 + ".png"  # 255 bytes: "-2" would make it 257
    x = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(3))
    for folder in ("a/g", "b/g", "a/h"):
        (tmp_path / "in" / folder).mkdir(parents=True)
    for folder, sigma in (("a", 0.0), ("b", 0.7)):
        save_planes(gaussian_blur(x, sigma) if sigma else x, tmp_path / "in" / folder / "g" / longest)
    save_planes(x, tmp_path / "in" / "a" / "h" / longest)
    result = pick(str(tmp_path / "in" / "a"), str(tmp_path / "in" / "b"), "-o", str(tmp_path / "best"), "--top", "2")
    assert result.exit_code == 1, result.output
    failures = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 1 and f"{'n' * 251}-2.png" in failures[0] and "255" in failures[0], result.stderr
    assert (tmp_path / "best" / "g" / longest).read_bytes() == (tmp_path / "in" / "a" / "g" / longest).read_bytes()
    assert (tmp_path / "best" / "h" / longest).is_file()  # the command went on after that file
    report = json.loads((tmp_path / "best" / "report.json").read_text())
    assert sorted(r["status"] for r in report["files"]) == ["done", "done", "failed"]


def test_a_pick_folder_another_command_holds_is_refused_before_anything_is_copied(tmp_path: Path) -> None:
    import torch

    (tmp_path / "in" / "prompt").mkdir(parents=True)
    save_planes(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / "prompt" / "a.png")
    with held_by_another_process(tmp_path / "best") as holder:
        result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and f"another enhance command (pid {holder.pid}" in result.stderr
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == [".enhance.lock"]  # the holder's only


def test_a_name_that_is_not_utf8_is_picked_and_reported(tmp_path: Path) -> None:
    import os

    import torch

    name = os.fsdecode(b"caf\xe9.png")
    (tmp_path / "in" / "prompt").mkdir(parents=True)
    save_planes(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "in" / "prompt" / name)
    result = pick(str(tmp_path / "in"), "-o", str(tmp_path / "best"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "best" / "prompt" / name).is_file()
    report = json.loads((tmp_path / "best" / "report.json").read_text(encoding="ascii"))
    assert [r["relative"] for r in report["files"]] == [f"prompt/{name}"]
    assert "caf\\xe9.png" in (tmp_path / "best" / "report.html").read_text(encoding="utf-8")
