"""Tests do not leak into each other: the registries every test finds are the ones enhance ships."""

from __future__ import annotations

import subprocess
import sys

import pytest

from enhance.metrics import metric_names
from enhance.stages import stage_names
from tests.conftest import ROOT

SHIPPED_METRICS = ["sharpness", "banding", "entropy", "png_bpp", "niqe", "psnr", "psnr_y", "ssim", "ssim_y"]


def test_registries_are_as_shipped() -> None:
    """Fails when a test module registers a stage or metric at import, or a test leaves one behind."""
    assert [name for name in stage_names() if name.startswith("test-")] == []
    assert metric_names() == SHIPPED_METRICS


@pytest.mark.slow
def test_the_orders_that_used_to_fail_pass() -> None:
    """The leaks as reported: the registry facts after a test that registers a metric; the shipped
    registries after test_batch (which registered two stages at import) and a stage registration."""
    order = [
        "tests/metrics/test_registry.py::test_unavailable_metric_says_why",
        "tests/metrics/test_registry.py::test_builtin_metrics_have_kind_and_direction",
        "tests/test_batch.py::test_missing_input_is_a_usage_error",
        "tests/stages/test_registry.py::test_a_name_registered_twice_is_refused_unless_replacing",
        "tests/test_isolation.py::test_registries_are_as_shipped",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *order],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "5 passed" in out.stdout
