"""PSNR/SSIM (RGB and Y) in the SR-benchmark convention, against basicsr on the same arrays, and
the Set14 calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from enhance.errors import InputError
from enhance.metrics import psnr, psnr_y, ssim, ssim_y

from ..conftest import SET14
from .images import load_array

#: tolerance of the calibration (acceptance: equal to basicsr within these)
PSNR_TOL, SSIM_TOL = 0.01, 0.0005
#: basicsr's figures on these files with MATLAB-bicubic upscaling (GUIDE.md)
REFERENCE = {2: (30.33, 0.8700), 4: (26.09, 0.7049)}


def planes(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0


def pairs(scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR, HR) uint8 RGB arrays of Set14 at ``scale``."""
    found = sorted(SET14.glob(f"img_*_SRF_{scale}_HR.png"))
    assert len(found) == 14
    return [(load_array(hr.with_name(hr.name.replace("_HR", "_LR"))), load_array(hr)) for hr in found]


def basicsr_scores(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """basicsr's PSNR-Y/SSIM-Y; it reads BGR arrays (cv2: gray files as three equal channels), so
    give it the channels in that order."""
    from enhance.compat import import_reference

    metrics = import_reference("basicsr.metrics")
    bgr_sr, bgr_hr = (np.broadcast_to(a, (*a.shape[:2], 3))[..., ::-1] for a in (sr, hr))
    return (
        metrics.calculate_psnr(bgr_sr, bgr_hr, crop_border=scale, test_y_channel=True),
        metrics.calculate_ssim(bgr_sr, bgr_hr, crop_border=scale, test_y_channel=True),
    )


def check_against_basicsr(upscaled: list[np.ndarray], hrs: list[np.ndarray], scale: int) -> tuple[float, float]:
    ours_p, ours_s, ref_p, ref_s = [], [], [], []
    for sr, hr in zip(upscaled, hrs, strict=True):
        ours_p.append(psnr_y(planes(sr), planes(hr), crop_border=scale))
        ours_s.append(ssim_y(planes(sr), planes(hr), crop_border=scale))
        p, s = basicsr_scores(sr, hr, scale)
        ref_p.append(p)
        ref_s.append(s)
    # per image, and the Set14 means papers report
    assert np.max(np.abs(np.subtract(ours_p, ref_p))) < PSNR_TOL
    assert np.max(np.abs(np.subtract(ours_s, ref_s))) < SSIM_TOL
    return float(np.mean(ours_p)), float(np.mean(ours_s))


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("scale", [2, 4])
def test_same_arrays_as_basicsr(scale: int) -> None:
    """The metric alone, without our resize op: upscale with basicsr's own MATLAB imresize (slow,
    so five of the fourteen images), score with ours and with basicsr."""
    from enhance.compat import import_reference

    imresize = import_reference("basicsr.utils.matlab_functions").imresize
    data = pairs(scale)[:5]
    upscaled = [
        np.clip(np.round(imresize(lr.astype(np.float32) / 255.0, scale) * 255.0), 0, 255).astype(np.uint8)
        for lr, _ in data
    ]
    check_against_basicsr(upscaled, [hr for _, hr in data], scale)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("scale", [2, 4])
def test_set14_calibration_with_our_resize(scale: int) -> None:
    """Acceptance: upscaling Set14 LR with the resize op's matlab-bicubic and scoring against HR
    gives basicsr's figures on the same arrays, per image, and the published means."""
    from enhance.ops import resize

    data = pairs(scale)
    upscaled = []
    for lr, hr in data:
        out = resize(planes(lr), size=hr.shape[:2], method="matlab-bicubic", scale=scale)
        upscaled.append((out.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    mean_psnr, mean_ssim = check_against_basicsr(upscaled, [hr for _, hr in data], scale)
    # GUIDE.md's figures are given to 0.01 dB / 0.0001
    assert mean_psnr == pytest.approx(REFERENCE[scale][0], abs=0.005)
    assert mean_ssim == pytest.approx(REFERENCE[scale][1], abs=0.00005)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("scale", [2, 4])
def test_set14_gray_image_read_as_it_is(scale: int) -> None:
    """Set14's img_003 is a gray file: kept one-channel (as enhance.io reads it), upscaled and
    scored, it gets basicsr's figures, which read it as three equal channels."""
    from PIL import Image as PILImage

    from enhance.ops import resize

    def gray(path: Path) -> np.ndarray:
        with PILImage.open(path) as image:
            assert image.mode == "L"
            return np.asarray(image)[..., None]

    hr_path = SET14 / f"img_003_SRF_{scale}_HR.png"
    lr, hr = gray(hr_path.with_name(hr_path.name.replace("_HR", "_LR"))), gray(hr_path)
    out = resize(planes(lr), size=hr.shape[:2], method="matlab-bicubic", scale=scale)
    check_against_basicsr([(out.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()], [hr], scale)


def test_gray_scores_like_its_rgb_copy() -> None:
    """A one-channel image and its three-equal-channel copy are the same picture: same Y figures."""
    x = torch.rand(1, 40, 48, generator=torch.Generator().manual_seed(0))
    ref = (x + 0.1 * torch.rand(1, 40, 48, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    rgb, rgb_ref = x.expand(3, -1, -1), ref.expand(3, -1, -1)
    assert psnr_y(x, ref) == pytest.approx(psnr_y(rgb, rgb_ref), abs=1e-9)
    assert ssim_y(x, ref) == pytest.approx(ssim_y(rgb, rgb_ref), abs=1e-6)
    assert psnr_y(x, rgb_ref) == pytest.approx(psnr_y(rgb, rgb_ref), abs=1e-9)


@pytest.mark.slow
@pytest.mark.shared
def test_rgb_metrics_match_basicsr_without_y() -> None:
    from enhance.compat import import_reference

    metrics = import_reference("basicsr.metrics")
    _, hr = pairs(2)[0]
    noisy = np.clip(hr.astype(np.int16) + np.random.default_rng(0).integers(-12, 13, hr.shape), 0, 255).astype(np.uint8)
    assert psnr(planes(noisy), planes(hr), crop_border=2) == pytest.approx(
        metrics.calculate_psnr(noisy, hr, crop_border=2), abs=1e-6
    )
    assert ssim(planes(noisy), planes(hr), crop_border=2) == pytest.approx(
        metrics.calculate_ssim(noisy, hr, crop_border=2), abs=1e-5
    )


def test_identical_and_mismatched_images() -> None:
    x = torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(0))
    assert psnr_y(x, x) == float("inf") and ssim_y(x, x) == pytest.approx(1.0)
    with pytest.raises(InputError, match="the image is 40x32 but its reference is 40x31"):
        psnr(x, x[:, :31])
    with pytest.raises(InputError, match="SSIM needs at least 11x11 pixels after the border crop"):
        ssim(x, x, crop_border=12)
    gray = x.mean(0, keepdim=True)
    assert psnr(gray, gray.expand(3, -1, -1)) == float("inf")


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(3, 64, 64, generator=g), torch.rand(3, 64, 64, generator=g)
    for fn in (psnr, psnr_y, ssim, ssim_y):
        # float64 PSNR agrees to rounding; float32 SSIM convolutions differ between cuDNN and the CPU
        assert fn(x.cuda(), y.cuda(), crop_border=2) == pytest.approx(fn(x, y, crop_border=2), abs=1e-5)
