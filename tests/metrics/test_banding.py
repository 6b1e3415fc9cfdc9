"""The banding index: 0 for smooth, dithered and textured content, clearly above for bands, on
CPU and CUDA; and its map points at the bands."""

from __future__ import annotations

import pytest
import torch

from enhance.metrics.banding import DEFAULT_MAX_STEP, banding_index, banding_map
from tests.synthetic import banded, quantize, texture

# small frames need gentle gradients for one-code bands to be several pixels wide
SMALL = {"height": 192, "width": 256, "contrast": 0.25}


def score(case: str, device: str, pattern: str = "linear", **kwargs: object) -> float:
    frame = banded(case, pattern=pattern, **SMALL)  # type: ignore[arg-type]
    return banding_index(frame.image.to(device), **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["linear", "vignette"])
def test_bands_score_clearly_above_smooth_and_dithered(device: str, pattern: str) -> None:
    smooth = score("smooth", device, pattern)
    dithered = score("dithered", device, pattern)
    assert smooth < 0.05 and dithered < 0.05
    for case in ("banded", "posterized32", "posterized64"):
        assert score(case, device, pattern) > 1.0, case


def test_random_texture_scores_zero(device: str) -> None:
    noise = quantize((0.5 + texture(192, 256, seed=7)).clamp(0, 1).expand(3, -1, -1))
    assert banding_index(noise.to(device)) < 0.05


def test_posterization_still_counts_under_dither(device: str) -> None:
    # a posterised image written with dither keeps its steps: the index must still see them
    frame = banded("posterized32", **SMALL)  # type: ignore[arg-type]
    noisy = quantize(frame.image.double(), dither=True, seed=1)
    assert banding_index(noisy.to(device)) > 1.0


def test_max_step_bounds_the_steps_that_count(device: str) -> None:
    frame = banded("posterized32", **SMALL)  # type: ignore[arg-type]
    image = frame.image.to(device)
    # posterisation to 32 levels makes steps of 8-9 codes: below max_step they are banding...
    assert banding_index(image, max_step=DEFAULT_MAX_STEP) > 1.0
    # ...above it they are edges, and one-code bands still count with a small max_step
    assert banding_index(image, max_step=4) < 0.05
    assert score("banded", device, max_step=1) > 1.0


@pytest.mark.slow
def test_grey_and_neutral_rgb_agree(device: str) -> None:
    frame = banded("banded", texture_region=False, **SMALL)  # type: ignore[arg-type]
    rgb = frame.image.to(device)
    assert banding_index(rgb[:1]) == pytest.approx(banding_index(rgb), rel=1e-3, abs=1e-4)


def test_map_is_hottest_over_the_bands_not_the_texture(device: str) -> None:
    frame = banded("posterized64", **SMALL)  # type: ignore[arg-type]
    heat = banding_map(frame.image.to(device))
    assert heat.ndim == 2 and heat.device.type == torch.device(device).type
    assert float(heat.min()) >= 0
    cols = heat.shape[1]
    split = cols * 2 // 3 - 1  # the texture covers the right third
    assert float(heat[:, :split].max()) > 0.1
    assert float(heat[:, split + 2 :].max()) < 0.05 * float(heat[:, :split].max())


@pytest.mark.slow
def test_full_hd_ordering() -> None:
    # at 1920x1080 one-code bands of the default gradient are 8-10 px wide
    bands = banding_index(banded("banded", 1080, 1920).image)
    dithered = banding_index(banded("dithered", 1080, 1920).image)
    assert bands > 1.0 > 0.05 > dithered


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_step": 0.0}, "max_step"),
        ({"visibility": 0.0}, "visibility"),
        ({"topk": 0.0}, "topk"),
        ({"bits": 16}, "bits"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        banding_index(torch.zeros(3, 32, 32), **kwargs)  # type: ignore[arg-type]


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        banding_index(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        banding_map(torch.zeros(2, 32, 32))
