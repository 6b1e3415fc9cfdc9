"""The metric registry: facts per metric, validation messages, lazy imports, compute()."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from enhance.errors import ConfigError
from enhance.image import Image
from enhance.metrics import compute, default_metrics, get_metric, list_metrics, metric_names, validate_metrics
from enhance.metrics.registry import Metric, compute_each, register_metric


def test_builtin_metrics_have_kind_and_direction() -> None:
    facts = {m.name: (m.kind, m.higher_is_better) for m in list_metrics()}
    assert facts == {
        "sharpness": ("no-reference", True),
        "banding": ("no-reference", False),
        "entropy": ("no-reference", True),
        "png_bpp": ("no-reference", True),
        "niqe": ("no-reference", False),
        "psnr": ("full-reference", True),
        "psnr_y": ("full-reference", True),
        "ssim": ("full-reference", True),
        "ssim_y": ("full-reference", True),
    }
    assert get_metric("png_bpp").devices == ("cpu", "cuda")  # quantized on the device, encoded on CPU
    assert get_metric("niqe").requires == "basicsr"
    assert metric_names("full-reference") == ["psnr", "psnr_y", "ssim", "ssim_y"]


def test_default_metrics_are_no_reference_without_extras() -> None:
    names = default_metrics()
    assert {"sharpness", "entropy", "png_bpp"} <= set(names)
    assert "niqe" not in names and not set(names) & set(metric_names("full-reference"))


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'sharpnes'; known metrics: sharpness, banding"):
        validate_metrics("sharpnes,entropy")


def test_wrong_kind_and_duplicates() -> None:
    assert validate_metrics(" entropy, sharpness ,entropy") == ["entropy", "sharpness"]
    with pytest.raises(ConfigError, match="'psnr' is full-reference and cannot be used here"):
        validate_metrics(["psnr"], kind="no-reference")
    with pytest.raises(ConfigError, match="no metrics given"):
        validate_metrics("")


def test_unavailable_metric_says_why() -> None:
    register_metric(Metric("test-missing", "no-reference", True, "enhance.metrics.not_there:fn", "x"), replace=True)
    with pytest.raises(ConfigError, match=r"'test-missing' is not available .*enhance\.metrics\.not_there is missing"):
        validate_metrics(["test-missing"])


def test_compute_takes_images_and_tensors_and_needs_a_reference() -> None:
    x = torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(0))
    from_tensor = compute(["sharpness", "entropy"], x)
    from_image = compute(["sharpness", "entropy"], Image(x))
    from_rgba = compute(["sharpness", "entropy"], torch.cat([x, torch.ones(1, 40, 48)]))
    assert from_tensor == from_image == from_rgba and list(from_tensor) == ["sharpness", "entropy"]
    assert compute(["psnr"], x, x)["psnr"] == float("inf")
    with pytest.raises(ConfigError, match="compares against a reference image"):
        compute(["psnr"], x)


def test_compute_each_reports_a_failing_metric_and_keeps_the_others() -> None:
    x = torch.rand(3, 40, 1, generator=torch.Generator().manual_seed(0))  # too thin for SSIM
    warnings: list[str] = []
    values = compute_each(["psnr", "ssim", "entropy"], x, x, label="after", warn=warnings.append)
    assert values["psnr"] is None, "identical images: infinite PSNR, which JSON cannot hold"
    assert values["ssim"] is None and isinstance(values["entropy"], float)
    assert len(warnings) == 1 and warnings[0].startswith("score: ssim (after) could not be computed: SSIM needs")
    assert "\n" not in warnings[0]


def test_importing_metrics_does_not_import_torch() -> None:
    code = (
        "import sys, enhance.metrics as m, enhance.metrics.registry as r; "
        "r.validate_metrics(['sharpness']); r.get_metric('png_bpp').available(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_long_unknown_metric_name_is_quoted_briefly() -> None:
    with pytest.raises(ConfigError) as err:
        validate_metrics(["m" * 100_000])
    assert len(str(err.value)) < 300 and "unknown metric 'mmm" in str(err.value)
