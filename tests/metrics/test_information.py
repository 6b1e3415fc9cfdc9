"""Entropy and PNG bits per pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from enhance.io import PNG_COMPRESS_LEVEL
from enhance.metrics import entropy, png_bpp
from enhance.metrics.information import PNG_STRIP_ROWS

from ..conftest import KODAK
from .images import kodak_crop, load_array


def test_entropy_of_known_histograms() -> None:
    assert entropy(torch.full((3, 16, 16), 0.5)) == 0.0
    two = torch.zeros(1, 16, 16)
    two[:, :, 8:] = 1.0
    assert entropy(two) == pytest.approx(1.0)
    assert entropy(torch.arange(256.0).view(1, 16, 16) / 255) == pytest.approx(8.0)


@pytest.mark.shared
def test_png_bpp_matches_a_whole_file_encode() -> None:
    """Strip-wise encoding costs well under 1% against one Pillow encode of the whole photo."""
    array = load_array(KODAK / "kodim01.png")  # 500 rows: two strips
    assert array.shape[0] > PNG_STRIP_ROWS
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    whole = buffer.tell() * 8 / (array.shape[0] * array.shape[1])
    ours = png_bpp(torch.from_numpy(array).permute(2, 0, 1).float() / 255)
    assert ours == pytest.approx(whole, rel=0.01)


@pytest.mark.shared
def test_noise_raises_png_bpp() -> None:
    x = kodak_crop("kodim05.png", 192)
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert png_bpp(x) < png_bpp(noisy)


def test_png_bpp_flat_is_tiny_and_gray_works() -> None:
    assert png_bpp(torch.full((3, 64, 64), 0.3)) < 0.5  # the PNG container alone is ~0.3 bit/px here
    assert 0 < png_bpp(torch.from_numpy(np.random.default_rng(0).random((1, 40, 30))).float()) <= 9
