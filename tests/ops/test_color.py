"""Colour transforms: the one luma of enhance, and the YCbCr round trip."""

from __future__ import annotations

import pytest
import torch

from enhance.ops.color import luma, rgb_to_ycbcr, ycbcr_to_rgb


def test_luma_is_the_y_of_ycbcr(device: str) -> None:
    x = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(0)).to(device)
    y = luma(x)
    assert y.shape == (1, 17, 23)
    torch.testing.assert_close(y, rgb_to_ycbcr(x)[:1], atol=1e-6, rtol=0)


def test_luma_keeps_the_dtype_and_a_neutral_pixel_is_its_value(dtype: torch.dtype) -> None:
    x = torch.linspace(0, 1, 11, dtype=dtype).view(1, 1, 11).expand(3, 1, 11)
    y = luma(x)
    assert y.dtype == dtype
    torch.testing.assert_close(y, x[:1], atol=2e-3 if dtype == torch.float16 else 1e-6, rtol=0)


def test_luma_takes_batches_and_keeps_gray_as_is() -> None:
    batch = torch.rand(2, 3, 8, 9)
    torch.testing.assert_close(luma(batch)[1], luma(batch[1]))
    gray = torch.rand(1, 8, 9)
    assert luma(gray) is gray
    with pytest.raises(ValueError, match="1 or 3 channels"):
        luma(torch.rand(4, 8, 9))


def test_ycbcr_round_trip() -> None:
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5, rtol=0)
