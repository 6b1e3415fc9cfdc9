"""The banded test content: deterministic, on the right grid, with the structure each case names."""

from __future__ import annotations

import pytest
import torch

from tests.synthetic import CASES, PATTERNS, banded, gradient, quantize, texture

SIZE = (96, 128)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_frames_are_deterministic_float_rgb_in_range(case: str, pattern: str) -> None:
    first = banded(case, *SIZE, pattern=pattern)
    again = banded(case, *SIZE, pattern=pattern)
    assert first.image.shape == (3, *SIZE) and first.image.dtype == torch.float32
    assert torch.equal(first.image, again.image)
    assert float(first.image.min()) >= 0.0 and float(first.image.max()) <= 1.0


@pytest.mark.parametrize("case", ["banded", "dithered", "posterized32", "posterized64"])
def test_eight_bit_cases_lie_on_the_8_bit_grid(case: str) -> None:
    frame = banded(case, *SIZE)
    codes = frame.image.double() * 255
    assert frame.bit_depth == 8
    assert torch.allclose(codes, codes.round(), atol=1e-3)


def test_smooth_case_is_16_bit_and_finer_than_8_bit() -> None:
    frame = banded("smooth", *SIZE, texture_region=False, contrast=0.1)
    levels = frame.image.double() * 65535
    assert frame.bit_depth == 16
    assert torch.allclose(levels, levels.round(), atol=1e-2)
    # a gentle gradient keeps a distinct value per row in 16 bits, a handful in 8 bits
    eight_bit = banded("banded", *SIZE, texture_region=False, contrast=0.1)
    assert frame.image[0].unique().numel() == SIZE[0]
    assert eight_bit.image[0].unique().numel() < SIZE[0] // 4


@pytest.mark.parametrize(("case", "levels"), [("posterized32", 32), ("posterized64", 64)])
def test_posterized_cases_use_at_most_their_levels(case: str, levels: int) -> None:
    frame = banded(case, *SIZE)
    steps = (frame.image[0].double() * 255).round().unique()
    assert steps.numel() <= levels
    # and the steps between neighbouring values are several codes wide
    assert float(steps.diff().min()) >= 255 / (levels - 1) - 1


def test_dithered_case_differs_from_banded_but_keeps_its_mean() -> None:
    banded_frame = banded("banded", *SIZE, texture_region=False)
    dithered = banded("dithered", *SIZE, texture_region=False)
    assert not torch.equal(banded_frame.image, dithered.image)
    assert abs(float(banded_frame.image.mean() - dithered.image.mean())) < 0.5 / 255


def test_texture_region_is_textured_and_the_gradient_is_not() -> None:
    frame = banded("banded", *SIZE)
    assert frame.texture_box is not None
    top, left, height, width = frame.texture_box
    assert (top, left + width, height) == (0, SIZE[1], SIZE[0])
    tex = frame.crop(frame.texture_box)[0] * 255
    grad = frame.crop(frame.gradient_box)[0] * 255
    # neighbouring pixels differ by several codes in the texture, by at most one in the gradient
    assert float(tex.diff(dim=1).abs().mean()) > 3
    assert float(grad.diff(dim=1).abs().max()) <= 1


def test_texture_has_the_requested_strength() -> None:
    noise = texture(64, 64, seed=3, strength=18.0)
    assert noise.shape == (1, 64, 64)
    assert abs(float(noise.std()) * 255 - 18.0) < 0.5
    assert abs(float(noise.mean())) < 1e-9


def test_contrast_narrows_the_gradient_about_its_middle() -> None:
    full, gentle = gradient(64, 32), gradient(64, 32, contrast=0.25)
    assert float(gentle.max() - gentle.min()) == pytest.approx(0.25 * float(full.max() - full.min()), rel=0.02)
    assert float(gentle.mean()) == pytest.approx(float(full.mean()), abs=0.02)


def test_quantize_dither_is_seeded() -> None:
    x = gradient(32, 32)
    assert torch.equal(quantize(x, dither=True, seed=1), quantize(x, dither=True, seed=1))
    assert not torch.equal(quantize(x, dither=True, seed=1), quantize(x, dither=True, seed=2))


def test_unknown_case_or_pattern_is_rejected() -> None:
    with pytest.raises(ValueError, match="case"):
        banded("posterized16", *SIZE)
    with pytest.raises(ValueError, match="pattern"):
        gradient(8, 8, pattern="radial")


def test_test_content_is_not_part_of_the_package() -> None:
    """The generators live beside the tests: the wheel ships enhance, not its test images."""
    from importlib.util import find_spec

    assert find_spec("enhance.synthetic") is None
