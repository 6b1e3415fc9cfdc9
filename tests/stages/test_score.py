"""The score stage: before/after/delta into ctx.results, comparison size, validation, no change."""

from __future__ import annotations

import pytest
import torch

from enhance.context import RunContext
from enhance.errors import ConfigError
from enhance.image import Image
from enhance.metrics import compute
from enhance.stages import get_stage
from enhance.stages.score import Score

from ..metrics.images import gaussian_blur, kodak_crop


def run(stage: Score, before: torch.Tensor, after: torch.Tensor) -> RunContext:
    ctx = RunContext(device="cpu", source=Image(before))
    stage.ensure_setup(ctx)
    out = stage.process(Image(after), ctx)
    assert torch.equal(out.pixels, after)  # scoring never changes the image
    return ctx


def test_registered_and_defaults() -> None:
    assert get_stage("score") is Score
    stage = Score()
    assert stage.params.at == "output" and {"sharpness", "entropy", "png_bpp"} <= set(stage.metric_names)
    assert Score(metrics="sharpness, png_bpp").params.metrics == ["sharpness", "png_bpp"]


def test_unknown_and_full_reference_metrics_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown metric 'sharp'; known metrics: sharpness"):
        Score(metrics=["sharp"])
    with pytest.raises(ValueError, match="'psnr' is full-reference"):
        Score(metrics=["psnr"])


def test_native_rejects_size_dependent_metrics() -> None:
    with pytest.raises(ConfigError, match=r"png_bpp depend.* on image size.*use at: output"):
        Score(metrics=["entropy", "png_bpp"], at="native").setup(RunContext())
    # sharp edges drawn at 2x read ~1.4x sharper: not comparable across sizes
    with pytest.raises(ConfigError, match=r"sharpness depend.* on image size"):
        Score(metrics=["sharpness"], at="native").setup(RunContext())
    Score(metrics=["entropy"], at="native").setup(RunContext())


@pytest.mark.shared
def test_before_after_delta_same_size() -> None:
    before = gaussian_blur(kodak_crop("kodim05.png", 128), 1.5)
    after = kodak_crop("kodim05.png", 128)
    ctx = run(Score(metrics=["sharpness", "png_bpp"]), before, after)
    scores = ctx.results["scores"]
    for name in ("sharpness", "png_bpp"):
        entry = scores[name]
        assert entry["before"] == pytest.approx(compute([name], before)[name])
        assert entry["after"] == pytest.approx(compute([name], after)[name])
        assert entry["delta"] == pytest.approx(entry["after"] - entry["before"]) and entry["delta"] > 0
    assert ctx.results["scores_at"] == {"mode": "output", "size": [128, 128]}


@pytest.mark.shared
def test_sizes_differ() -> None:
    """At the output size a plain bicubic upscale (the stage's own resampler) gains nothing."""
    from enhance.ops import resize

    x = kodak_crop("kodim08.png", 96)
    up = resize(x, size=(192, 192), method="bicubic").clamp(0, 1)
    ctx = run(Score(metrics=["sharpness", "png_bpp"]), x, up)
    assert ctx.results["scores_at"] == {"mode": "output", "size": [192, 192]}
    assert abs(ctx.results["scores"]["png_bpp"]["delta"]) < 0.02 * ctx.results["scores"]["png_bpp"]["after"]
    ctx = run(Score(metrics=["png_bpp"], at="input"), x, up)
    assert ctx.results["scores_at"] == {"mode": "input", "size": [96, 96]}
    assert ctx.results["scores"]["png_bpp"]["before"] == pytest.approx(compute(["png_bpp"], x)["png_bpp"])
    ctx = run(Score(metrics=["entropy"], at="native"), x, up)
    assert ctx.results["scores_at"]["size"] is None
    assert ctx.results["scores"]["entropy"]["after"] == pytest.approx(compute(["entropy"], up)["entropy"])


def test_gray_source_colour_output_and_a_failing_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    gray = torch.rand(1, 40, 40, generator=torch.Generator().manual_seed(0))
    ctx = run(Score(metrics=["entropy", "sharpness"]), gray, gray.expand(3, -1, -1).clone())
    assert ctx.results["scores"]["entropy"]["delta"] == pytest.approx(0.0, abs=1e-9)

    import enhance.metrics.gradient as gradient

    def broken(x: torch.Tensor) -> float:
        raise ValueError("boom")

    monkeypatch.setattr(gradient, "sharpness", broken)
    ctx = run(Score(metrics=["entropy", "sharpness"]), gray, gray)
    assert ctx.results["scores"]["sharpness"] == {"before": None, "after": None, "delta": None}
    assert ctx.results["scores"]["entropy"]["after"] is not None
    assert any("sharpness (before) could not be computed: boom" in w for w in ctx.warnings)


def test_callable_on_plain_tensors() -> None:
    x = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(1))
    out, ctx = Score(metrics=["entropy"])(x, RunContext(device="cpu"), return_results=True)
    assert torch.equal(out, x)
    assert ctx.results["scores"]["entropy"]["delta"] == 0.0


@pytest.mark.cuda
def test_on_cuda() -> None:
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2))
    ctx = RunContext(device="cuda", source=Image(x.cuda()))
    Score(metrics=["sharpness", "entropy", "png_bpp"]).process(Image(x.cuda()), ctx)
    cpu = compute(["sharpness", "entropy", "png_bpp"], x)
    for name, value in cpu.items():
        assert ctx.results["scores"][name]["after"] == pytest.approx(value, rel=1e-4)
