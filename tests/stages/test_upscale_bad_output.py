"""A model whose output cannot be right (NaN/inf, or one flat colour from a varied input) fails
its file with one line, writes nothing and the batch goes on; a flat input stays fine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from enhance.cli import app
from enhance.context import RunContext
from enhance.errors import InputError
from enhance.image import Image, Metadata
from enhance.stages.upscale import Upscale, _output_problem
from tests.sr_models import save_pth, tiny_compact_state


def _poisoned(kind: str) -> dict[str, torch.Tensor]:
    """A tiny Compact x4 with corrupt weights: one NaN or inf, every conv scaled by 1e30, or a
    last layer that sends every pixel far below black (a constant output)."""
    state = tiny_compact_state(seed=3)
    if kind == "nan":
        state["body.0.weight"][0, 0, 1, 1] = float("nan")
    elif kind == "inf":
        state["body.2.weight"][1, 2, 0, 0] = float("inf")
    elif kind == "1e30":
        state = {k: v * 1e30 if k.endswith("weight") and v.ndim == 4 else v for k, v in state.items()}
    elif kind == "black":
        last = max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        state[f"body.{last}.weight"].zero_()
        state[f"body.{last}.bias"].fill_(-100.0)
    return state


def _config(tmp_path: Path, model: Path) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  up:\n    device: cpu\n    output: {format: png}\n    stages:\n"
        f"      - upscale: {{model: {json.dumps(str(model))}, tile: 0}}\n"
    )
    return path


def _images(folder: Path, *, flat: bool = False) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a.png", "b.png"]
    for name in names:
        pixels = np.full((24, 20, 3), 128, np.uint8) if flat else rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
        PILImage.fromarray(pixels).save(folder / name)
    return names


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("nan", "model output is not finite (NaN/inf)"),
        ("inf", "model output is not finite (NaN/inf)"),
        ("1e30", "model output is not finite (NaN/inf)"),
        ("black", "model output is constant"),
    ],
)
def test_corrupt_weights_fail_each_file_with_one_line_through_the_cli(tmp_path: Path, kind: str, cause: str) -> None:
    model = save_pth(tmp_path / f"broken-{kind}.pth", _poisoned(kind))
    names = _images(tmp_path / "in")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "-o", str(out), "-c", str(_config(tmp_path, model)),
                                      "-p", "up", "-q"])  # fmt: skip
    assert result.exit_code == 1, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    records = {Path(r["input"]).name: r for r in manifest["files"]}
    assert sorted(records) == names  # the first failure did not stop the batch
    for name in names:
        record = records[name]
        assert record["status"] == "failed"
        error = record["error"]
        assert "\n" not in error and name in error and cause in error
        assert "the weights may be corrupt" in error and model.name in error
        assert not (out / name).exists()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]  # no output, no temp file


@pytest.mark.parametrize("kind", ["healthy", "black"])
def test_a_flat_input_is_not_refused(tmp_path: Path, kind: str) -> None:
    """A constant image may come out constant: even the all-black model cannot be told wrong there."""
    state = tiny_compact_state(seed=3) if kind == "healthy" else _poisoned(kind)
    model = save_pth(tmp_path / f"{kind}.pth", state)
    names = _images(tmp_path / "in", flat=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "-o", str(out), "-c", str(_config(tmp_path, model)),
                                      "-p", "up", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in names:
        written = np.asarray(PILImage.open(out / name))
        assert written.shape == (96, 80, 3)


def test_what_counts_as_a_bad_output() -> None:
    varied = torch.rand(3, 8, 8)
    flat = torch.full((3, 8, 8), 0.5)
    nearly_flat = flat + torch.rand(3, 8, 8) * (4 / 255)  # a few codes of noise: a denoiser may flatten it
    up = torch.rand(3, 32, 32)
    assert _output_problem(varied, up) is None
    assert _output_problem(varied, torch.zeros(3, 32, 32)).startswith("constant")
    assert _output_problem(varied, torch.full((3, 32, 32), 0.7)).startswith("constant")
    assert _output_problem(flat, torch.zeros(3, 32, 32)) is None
    assert _output_problem(nearly_flat, torch.full((3, 32, 32), 0.5)) is None
    for bad in (float("nan"), float("inf"), -float("inf")):
        broken = up.clone()
        broken[1, 3, 4] = bad
        assert _output_problem(varied, broken) == "not finite (NaN/inf)"


class _HalfBreaks:
    """Stands in for the model: a flat black output in half precision, nearest-neighbour x4 in fp32."""

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype] = []

    def __call__(self, descriptor: object):
        def forward(t: torch.Tensor) -> torch.Tensor:
            if t.shape[-2:] == (12, 10):  # the image, not the memory estimate's probe
                self.dtypes.append(t.dtype)
            up = torch.nn.functional.interpolate(t.float(), scale_factor=4, mode="nearest")
            return (up * 0 - 5).to(t.dtype) if t.dtype != torch.float32 else up

        return forward


def _half_stage(model: Path, call: _HalfBreaks, monkeypatch: pytest.MonkeyPatch) -> tuple[Upscale, RunContext]:
    stage = Upscale(model=str(model), tile=0, model_call=call)
    ctx = RunContext(device="cpu")
    stage.ensure_setup(ctx)
    # what CUDA's auto precision would pick; conv2d runs in fp16 on CPU too, slowly
    monkeypatch.setattr(stage, "_dtype", lambda bit_depth: torch.float16)
    return stage, ctx


def test_a_bad_half_precision_output_is_rerun_in_fp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = save_pth(tmp_path / "tiny.pth", tiny_compact_state(seed=3))
    call = _HalfBreaks()
    stage, ctx = _half_stage(model, call, monkeypatch)
    pixels = torch.rand(3, 12, 10)
    out = stage.process(Image(pixels, meta=Metadata()), ctx)
    assert call.dtypes == [torch.float16, torch.float32]
    expected = torch.nn.functional.interpolate(pixels[None], scale_factor=4, mode="nearest")[0]
    assert torch.equal(out.pixels, expected)
    assert ctx.results["upscale"]["fp32_reruns"] >= 1
    assert any("rerun in fp32" in w for w in ctx.warnings)


def test_a_batch_with_a_bad_output_fails_image_by_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = save_pth(tmp_path / "black.pth", _poisoned("black"))
    stage = Upscale(model=str(model), tile=0)
    images = [Image(torch.rand(3, 12, 10), meta=Metadata()) for _ in range(2)]
    contexts = [RunContext(device="cpu", path=Path(f"in/{i}.png")) for i in range(2)]
    stage.ensure_setup(contexts[0])
    with pytest.raises(InputError, match=r"^in/0\.png: upscale: model output is constant"):
        stage.process_batch(images, contexts)
