"""The resize stage: targets, validation, skipping, alpha, clamping, array kinds, device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from enhance.context import RunContext
from enhance.image import Image
from enhance.stages.registry import get_stage
from enhance.stages.resize import Resize, ResizeParams


def _image(height: int, width: int, channels: int = 3, alpha: bool = False, device: str = "cpu") -> Image:
    generator = torch.Generator().manual_seed(height * 1000 + width)
    pixels = torch.rand(channels, height, width, generator=generator)
    planes = torch.rand(1, height, width, generator=generator) if alpha else None
    return Image(pixels, planes).to(device)


def test_registered_under_its_name() -> None:
    assert get_stage("resize") is Resize


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"long_side": 128}, (128, 85)),  # 500x333: 85.248 -> 85
        ({"size": [64, 48]}, (64, 48)),
        ({"scale": 0.5}, (250, 167)),  # 166.5 rounds half up
        ({"width": 100}, (100, 67)),  # 66.6
        ({"height": 100}, (150, 100)),  # 150.15
        ({"width": 7, "height": 3}, (7, 3)),
        ({"long_side": 1001, "method": "area"}, (1001, 667)),  # 666.67
    ],
)
def test_output_is_exactly_the_requested_size(params: dict, size: tuple[int, int]) -> None:
    out = Resize(**params)(_image(333, 500), RunContext())
    assert out.size == size


@pytest.mark.parametrize("params", [{}, {"long_side": 10, "scale": 2}, {"size": [4, 4], "width": 3}])
def test_needs_exactly_one_target(params: dict) -> None:
    with pytest.raises(ValidationError, match="exactly one target: long_side, size"):
        ResizeParams(**params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"long_side": 0}, "greater than 0"),
        ({"scale": -1.0}, "greater than 0"),
        ({"scale": float("inf")}, "finite"),
        ({"size": [0, 10]}, r"size must be \[width, height\] with both > 0, got \[0, 10\]"),
        ({"size": [10]}, "size"),
        ({"long_side": 10, "method": "cubic"}, "'area', 'lanczos', 'bicubic' or 'matlab-bicubic'"),
        ({"long_side": 10, "only": "never"}, "'always', 'down' or 'up'"),
        ({"long_side": 10, "mode": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ResizeParams(**params)


def test_only_down_skips_images_that_would_grow() -> None:
    ctx = RunContext()
    small = _image(100, 150)
    assert Resize(long_side=2048, only="down").process(small, ctx) is small
    assert ctx.results["resize"][-1]["skipped"] == "only=down and the image would grow"
    assert Resize(long_side=64, only="down").process(small, ctx).size == (64, 43)
    assert Resize(long_side=64, only="up").process(small, ctx) is small
    assert Resize(scale=2, only="up").process(small, ctx).size == (300, 200)
    assert Resize(size=[150, 100]).process(small, ctx) is small
    assert [r.get("skipped") for r in ctx.results["resize"]] == [
        "only=down and the image would grow",
        None,
        "only=up and the image would shrink",
        None,
        "already that size",
    ]


def test_exact_size_that_stretches_warns() -> None:
    ctx = RunContext()
    assert Resize(size=[3840, 2160], method="area").process(_image(40, 40), ctx).size == (3840, 2160)
    assert len(ctx.warnings) == 1 and "changes the aspect ratio" in ctx.warnings[0]
    Resize(size=[80, 45]).process(_image(90, 160), ctx)  # same aspect: no warning
    assert len(ctx.warnings) == 1


@pytest.mark.parametrize("method", ["lanczos", "bicubic", "matlab-bicubic"])
def test_overshoot_is_clamped(method: str) -> None:
    """A hard edge rings with these kernels; the op keeps the overshoot, the stage clamps it."""
    from enhance.ops.resampling import resize

    edge = torch.zeros(1, 32, 32)
    edge[..., 16:] = 1.0
    assert resize(edge, (32, 77), method).max() > 1.0
    out = Resize(size=[77, 32], method=method).process(Image(edge), RunContext())
    assert out.pixels.min() >= 0.0 and out.pixels.max() <= 1.0


@pytest.mark.parametrize("method", ["area", "lanczos", "matlab-bicubic"])
def test_alpha_is_resized_premultiplied(method: str) -> None:
    """Opaque red beside fully transparent black: straight-alpha resizing pulls the black into
    the edge (a dark fringe); premultiplied, every partly transparent pixel stays pure red."""
    from enhance.ops.resampling import resize

    pixels = torch.zeros(3, 16, 30)
    pixels[0, :, :15] = 1.0
    alpha = torch.zeros(1, 16, 30)
    alpha[:, :, :15] = 1.0
    out = Resize(size=[13, 7], method=method).process(Image(pixels, alpha), RunContext())
    assert out.alpha is not None and out.alpha.shape == (1, 7, 13)
    edge = (out.alpha[0] > 0.02) & (out.alpha[0] < 0.98)
    assert edge.any()
    red, green, blue = out.pixels[:, edge]
    assert red.min() > 0.99 and green.max() < 0.01 and blue.max() < 0.01
    straight = resize(pixels, (7, 13), method).clamp(0, 1)
    assert straight[0][edge].min() < 0.9  # what premultiplying avoids


def test_linear_light_keeps_checkerboard_brightness() -> None:
    i = torch.arange(64)
    board = ((i[:, None] + i[None, :]) % 2).float().expand(3, 64, 64).contiguous()
    srgb = Resize(scale=0.5, method="area").process(Image(board), RunContext())
    linear = Resize(scale=0.5, method="area", linear_light=True).process(Image(board), RunContext())
    assert srgb.pixels.mean().item() == pytest.approx(0.5, abs=1e-5)
    assert linear.pixels.mean().item() == pytest.approx(0.7354, abs=1e-3)


def test_linear_light_with_alpha() -> None:
    """Premultiplying happens in linear light: an opaque white/black checkerboard beside
    transparency still halves to 0.735 sRGB where it is opaque."""
    i = torch.arange(32)
    board = ((i[:, None] + i[None, :]) % 2).float().expand(3, 32, 32).contiguous()
    alpha = torch.ones(1, 32, 32)
    alpha[..., 16:] = 0.0
    out = Resize(scale=0.5, method="area", linear_light=True).process(Image(board, alpha), RunContext())
    assert out.pixels[:, :, :8].mean().item() == pytest.approx(0.7354, abs=1e-3)
    assert out.alpha is not None and out.alpha[..., 8:].max().item() == 0.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_numpy_in_numpy_out(dtype: type, channels: int) -> None:
    top = np.iinfo(dtype).max
    array = np.random.default_rng(0).integers(0, top + 1, (45, 60, channels), dtype=dtype)
    out = Resize(long_side=20, method="area")(array, RunContext())
    assert out.dtype == dtype and out.shape == (15, 20, channels)
    # area to a third is a mean of 3x3 blocks (colour weighted by alpha), exact up to rounding
    blocks = array.astype(np.float64).reshape(15, 3, 20, 3, channels)
    expected = blocks.mean(axis=(1, 3))
    if channels == 4:
        weight = blocks[..., 3:] / top
        expected[..., :3] = (blocks[..., :3] * weight).sum(axis=(1, 3)) / weight.sum(axis=(1, 3))
    # 8-bit output is TPDF-dithered (±1 code, so smooth results stay smooth): off by < 1.5 codes,
    # unbiased on average; 16-bit is rounded, and float32 carries ~7 digits: a few hundredths of a
    # 16-bit level once colour is divided by alpha
    error = out - expected
    if dtype == np.uint8:
        assert np.abs(error).max() < 1.5 and abs(error.mean()) < 0.1
    else:
        assert np.abs(error).max() <= 0.5 + 0.05


def test_gray_numpy_keeps_its_rank() -> None:
    out = Resize(scale=2, method="bicubic")(np.full((5, 7), 200, np.uint8), RunContext())
    assert out.shape == (10, 14) and out.dtype == np.uint8 and (out == 200).all()


def test_tensor_in_tensor_out(device: str) -> None:
    x = torch.rand(3, 40, 30, device=device)
    out = Resize(long_side=20, method="matlab-bicubic")(x, RunContext(device=device))
    assert isinstance(out, torch.Tensor) and out.shape == (3, 20, 15) and out.device.type == device


@pytest.mark.parametrize("alpha", [False, True])
def test_stays_on_the_images_device(device: str, alpha: bool) -> None:
    image = _image(30, 50, alpha=alpha, device=device)
    out = Resize(long_side=24, method="lanczos").process(image, RunContext(device=device))
    assert out.pixels.device.type == device and out.size == (24, 14)
    if alpha:
        assert out.alpha is not None and out.alpha.device.type == device
    expected = Resize(long_side=24, method="lanczos").process(image.to("cpu"), RunContext())
    assert (out.pixels.cpu() - expected.pixels).abs().max().item() < 1e-4


def test_metadata_rides_along() -> None:
    image = _image(20, 20)
    image.meta.text["parameters"] = "a prompt"
    assert Resize(scale=0.5).process(image, RunContext()).meta is image.meta
