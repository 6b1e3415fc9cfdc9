"""Acceptance: each no-reference metric moves the right way on real photos and real banding."""

from __future__ import annotations

import pytest

from enhance.metrics import compute, get_metric

from .images import gaussian_blur, kodak_crop, quantized_gradient

CROPS = ["kodim03.png", "kodim05.png", "kodim13.png", "kodim23.png"]


@pytest.mark.shared
@pytest.mark.parametrize("name", CROPS)
def test_blur_scores_worse_sharpness_and_png_bpp(name: str) -> None:
    original = kodak_crop(name, 192)
    blurred = gaussian_blur(original, 1.5)
    before, after = compute(["sharpness", "png_bpp"], original), compute(["sharpness", "png_bpp"], blurred)
    for metric in ("sharpness", "png_bpp"):
        assert get_metric(metric).higher_is_better
        assert after[metric] < 0.8 * before[metric]


@pytest.mark.slow
@pytest.mark.shared
def test_blur_scores_worse_niqe() -> None:
    if not get_metric("niqe").available():
        pytest.skip("niqe needs basicsr (the realesrgan extra)")
    original = kodak_crop("kodim13.png", 192)
    assert not get_metric("niqe").higher_is_better
    assert compute(["niqe"], gaussian_blur(original, 1.5))["niqe"] > compute(["niqe"], original)["niqe"] + 1.0


def test_quantized_gradient_scores_more_banding() -> None:
    pytest.importorskip("enhance.metrics.banding")
    smooth, banded = quantized_gradient(None), quantized_gradient(32)
    assert not get_metric("banding").higher_is_better
    assert compute(["banding"], banded)["banding"] > compute(["banding"], smooth)["banding"]
