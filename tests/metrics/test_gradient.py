"""Sharpness: resolution-normalised, lower when blurred, zero when flat, same on every device."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from enhance.metrics import gradient_energy, sharpness

from .images import kodak_crop


@pytest.mark.shared
@pytest.mark.parametrize("factor", [2, 4])
def test_resolution_normalised(factor: int) -> None:
    """A plain bicubic upscale reads about like its source (a little lower: bicubic blurs), where
    the per-pixel variance of the Laplacian, the usual measure, falls by an order of magnitude."""
    import kornia

    x = kodak_crop("kodim13.png", 128)
    up = F.interpolate(x[None], scale_factor=factor, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    ratio = sharpness(up) / sharpness(x)
    assert 0.8 < ratio < 1.02

    def laplacian_variance(t: torch.Tensor) -> float:
        return float(kornia.filters.laplacian(t.mean(0, keepdim=True)[None], 3).var())

    assert laplacian_variance(up) < 0.2 * laplacian_variance(x)


@pytest.mark.shared
def test_more_detail_scores_higher_at_the_same_size() -> None:
    """The full-resolution photo beats a 2x area downscale brought back up by bicubic."""
    x = kodak_crop("kodim08.png", 256)
    lost = F.interpolate(F.avg_pool2d(x[None], 2), scale_factor=2, mode="bicubic", align_corners=False)[0]
    assert sharpness(x) > 1.3 * sharpness(lost.clamp(0, 1))


def test_flat_is_zero_and_ramp_is_its_slope() -> None:
    assert sharpness(torch.full((3, 32, 32), 0.4)) == pytest.approx(0.0, abs=1e-5)
    # luma rising by 0.5 across the short side: 0.5 per picture side, away from the borders
    ramp = torch.linspace(0, 0.5, 64).view(1, 64, 1).expand(1, 64, 96)
    energy = gradient_energy(ramp)[16:-16, 16:-16]
    assert energy.sqrt().mul(64).mean().item() == pytest.approx(0.5 * 64 / 63, rel=2e-3)


def test_tiny_and_gray_images() -> None:
    assert sharpness(torch.rand(1, 5, 7)) > 0
    assert sharpness(torch.rand(3, 3, 3)) > 0


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    x = torch.rand(3, 96, 80, generator=torch.Generator().manual_seed(1))
    assert sharpness(x.cuda()) == pytest.approx(sharpness(x), rel=1e-4)
