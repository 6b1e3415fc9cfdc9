"""Shared test fixtures: paths to the shared real data, device parametrisation, small images, and
registries that every test finds as enhance ships them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from enhance.metrics import registry as metric_registry
from enhance.stages import registry as stage_registry

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the repo root (real model and photos); ENHANCE_SHARED overrides it.
SHARED = Path(os.environ.get("ENHANCE_SHARED", ROOT.parent / "shared")).resolve()
SHARED_WEIGHTS = SHARED / "weights"
SET14 = SHARED / "data" / "set14"
KODAK = SHARED / "data" / "kodak24"
ANIMEVIDEOV3 = SHARED_WEIGHTS / "realesr-animevideov3.pth"


#: the registries as enhance ships them, taken before any test module is imported
_SHIPPED_STAGES = (dict(stage_registry._registered), dict(stage_registry._loaded))
_SHIPPED_METRICS = dict(metric_registry._REGISTRY)


def _ship_registries() -> None:
    for table, shipped in (
        (stage_registry._registered, _SHIPPED_STAGES[0]),
        (stage_registry._loaded, _SHIPPED_STAGES[1]),
        (metric_registry._REGISTRY, _SHIPPED_METRICS),
    ):
        table.clear()
        table.update(shipped)


@pytest.fixture(autouse=True)
def _registries_as_shipped() -> Iterator[None]:
    """Each test starts with the stage and metric registries as enhance ships them, and whatever it
    registers is gone after it: no test depends on another having run (or not) before it. A test
    module that needs a stage by name registers it in a fixture, never at import."""
    _ship_registries()
    yield
    _ship_registries()


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped where none is present")
    config.addinivalue_line("markers", "shared: needs ../shared (real model weights and photos)")
    config.addinivalue_line("markers", "slow: among the slowest tests; 'pytest -m \"not slow\"' is the quick loop")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_cuda = pytest.mark.skip(reason="no CUDA device on this machine")
    skip_shared = pytest.mark.skip(reason=f"shared data folder not found at {SHARED}")
    cuda = _has_cuda()
    for item in items:
        if "cuda" in item.keywords and not cuda:
            item.add_marker(skip_cuda)
        if "shared" in item.keywords and not SHARED.is_dir():
            item.add_marker(skip_shared)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """Run a test on CPU, and on CUDA where present."""
    return request.param


@pytest.fixture(params=["float16", "float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Run a test in each float precision a tensor may come in (tolerances are the test's to choose)."""
    import torch

    return getattr(torch, request.param)
