"""ops.deband (enhance/ops/debanding.py): removes bands that survive an 8-bit write, leaves texture and edges alone,
repeats bit for bit, on CPU and CUDA."""

from __future__ import annotations

import pytest
import torch

from enhance.image import Image, from_image, to_image
from enhance.metrics import ssim
from enhance.metrics.banding import banding_index
from enhance.ops import deband
from tests.synthetic import banded

SMALL = {"height": 192, "width": 256, "contrast": 0.25}


def written_8bit(pixels: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG written with the default (dithered) quantizer reads back as."""
    return to_image(from_image(Image(pixels), bit_depth=8, dither=True), pixels.device).pixels


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["linear", "vignette"])
@pytest.mark.parametrize("case", ["banded", "posterized32", "posterized64"])
def test_bands_drop_by_80_percent_after_an_8_bit_write(device: str, case: str, pattern: str) -> None:
    frame = banded(case, pattern=pattern, **SMALL)  # type: ignore[arg-type]
    image = frame.image.to(device)
    before = banding_index(image)
    after = banding_index(written_8bit(deband(image)))
    assert before > 1.0
    assert after <= 0.2 * before, f"{case}/{pattern}: {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("case", ["banded", "posterized32", "posterized64"])
def test_texture_passes_nearly_untouched(device: str, case: str) -> None:
    frame = banded(case, **SMALL)  # type: ignore[arg-type]
    assert frame.texture_box is not None
    out = deband(frame.image.to(device))
    crop_in = frame.crop(frame.texture_box)
    crop_out = frame.crop(frame.texture_box, written_8bit(out).cpu())
    assert ssim(crop_in, crop_out) >= 0.98
    # most texture pixels come out bit for bit as they went in
    same = (frame.crop(frame.texture_box, out.cpu()) == crop_in).all(dim=0).float().mean()
    assert float(same) > 0.95


@pytest.mark.slow
def test_full_hd_posterization() -> None:
    frame = banded("posterized32", 1080, 1920)
    before = banding_index(frame.image)
    after = banding_index(written_8bit(deband(frame.image)))
    assert after <= 0.2 * before


def test_same_seed_same_output_bit_for_bit(device: str) -> None:
    image = banded("posterized64", **SMALL).image.to(device)  # type: ignore[arg-type]
    first = deband(image, seed=3)
    assert torch.equal(first, deband(image, seed=3))
    assert not torch.equal(first, deband(image, seed=4))


def test_grain_is_seeded_and_only_where_pixels_changed(device: str) -> None:
    frame = banded("banded", **SMALL)  # type: ignore[arg-type]
    image = frame.image.to(device)
    plain, grainy = deband(image), deband(image, grain=1.0)
    assert torch.equal(grainy, deband(image, grain=1.0))
    assert not torch.equal(plain, grainy)
    untouched = plain == image
    assert torch.equal(grainy[untouched], image[untouched])


def test_edges_and_flat_areas_come_back_exactly(device: str) -> None:
    image = torch.full((3, 64, 96), 0.3, device=device)
    image[:, :, 48:] = 0.7  # a hard edge far above the threshold
    assert torch.equal(deband(image), image)


def test_any_float_precision_comes_back_in_kind(dtype: torch.dtype) -> None:
    """The math runs in float32 whatever comes in; the result has the input's dtype."""
    image = banded("posterized64", **SMALL).image.to(dtype)  # type: ignore[arg-type]
    out = deband(image)
    assert out.dtype == dtype
    reference = deband(image.float())  # the same values in float32
    # float16 rounds the smooth result to its ~1/2000 steps near 1
    torch.testing.assert_close(out.float(), reference, atol=1e-3 if dtype == torch.float16 else 1e-6, rtol=0)


def test_batch_matches_single_images(device: str) -> None:
    frames = torch.stack([banded(case, **SMALL).image for case in ("banded", "posterized64")]).to(device)  # type: ignore[arg-type]
    batch = deband(frames, seed=5)
    assert batch.shape == frames.shape
    for index in range(2):
        assert torch.equal(batch[index], deband(frames[index], seed=5))


def test_grey_images_are_debanded(device: str) -> None:
    grey = banded("posterized64", texture_region=False, **SMALL).image[:1].to(device)  # type: ignore[arg-type]
    out = deband(grey)
    assert out.shape == grey.shape
    assert banding_index(written_8bit(out)) <= 0.2 * banding_index(grey)
    assert torch.equal(deband(grey, channels="chroma"), grey)


def test_luma_only_leaves_chroma_alone(device: str) -> None:
    from enhance.ops import rgb_to_ycbcr

    image = banded("posterized64", texture_region=False, tint=(0.8, 0.9, 1.1), **SMALL).image.to(device)  # type: ignore[arg-type]
    before, after = rgb_to_ycbcr(image), rgb_to_ycbcr(deband(image, channels="luma"))
    assert float((after[1:] - before[1:]).abs().max()) < 1e-4
    assert float((after[0] - before[0]).abs().max()) > 1 / 255


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"radius": 0}, "radius"),
        ({"iterations": 0}, "iterations"),
        ({"grain": -1.0}, "grain"),
        ({"channels": "red"}, "channels"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deband(torch.zeros(3, 16, 16), **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        deband(torch.zeros(4, 16, 16))
    with pytest.raises(ValueError, match="float"):
        deband(torch.zeros(3, 16, 16, dtype=torch.uint8))
