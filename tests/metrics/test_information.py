"""Entropy and PNG bits per pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enhance.image import Raster
from enhance.io import PNG_COMPRESS_LEVEL, encode_bytes
from enhance.io.pngchunks import iter_chunks
from enhance.metrics import entropy, png_bpp

from ..conftest import KODAK
from .images import kodak_crop, load_array


def test_entropy_of_known_histograms() -> None:
    assert entropy(torch.full((3, 16, 16), 0.5)) == 0.0
    two = torch.zeros(1, 16, 16)
    two[:, :, 8:] = 1.0
    assert entropy(two) == pytest.approx(1.0)
    assert entropy(torch.arange(256.0).view(1, 16, 16) / 255) == pytest.approx(8.0)


@pytest.mark.shared
def test_png_bpp_is_the_writers_pixel_bytes() -> None:
    """png_bpp is what enhance's own PNG writer spends on the rows of the undithered 8-bit image."""
    array = load_array(KODAK / "kodim01.png")
    png = encode_bytes(Raster(array), "png", compress_level=PNG_COMPRESS_LEVEL)
    rows = sum(len(data) for kind, data, *_ in iter_chunks(png) if kind == b"IDAT")
    ours = png_bpp(torch.from_numpy(array).permute(2, 0, 1).float() / 255)
    assert ours == rows * 8 / (array.shape[0] * array.shape[1])
    assert 0.8 < ours / (len(png) * 8 / array[..., 0].size) <= 1  # the rest is the container


@pytest.mark.shared
def test_noise_raises_png_bpp() -> None:
    x = kodak_crop("kodim05.png", 192)
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert png_bpp(x) < png_bpp(noisy)


def test_png_bpp_flat_is_tiny_and_gray_works() -> None:
    assert png_bpp(torch.full((3, 64, 64), 0.3)) < 0.25  # only the rows count, not the container
    assert 0 < png_bpp(torch.from_numpy(np.random.default_rng(0).random((1, 40, 30))).float()) <= 9
