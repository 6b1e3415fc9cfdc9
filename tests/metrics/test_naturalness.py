"""NIQE: our batched torch port against basicsr's calculate_niqe, and its user-facing errors."""

from __future__ import annotations

from importlib.util import find_spec

import pytest
import torch

from enhance.errors import ConfigError, InputError
from enhance.metrics import niqe

from ..conftest import KODAK
from .images import load_array

# find_spec, not an import: importing basicsr (and torchvision, cv2...) at collection cost ~6 s of
# every run, even one that selects none of these tests
pytestmark = pytest.mark.skipif(find_spec("basicsr") is None, reason="basicsr (the realesrgan extra) is not installed")


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("name", ["kodim04.png", "kodim06.png", "kodim23.png"])
def test_matches_basicsr(name: str) -> None:
    from enhance.compat import import_reference

    reference = import_reference("basicsr.metrics").calculate_niqe
    array = load_array(KODAK / name)[:200, :300]  # 2x3 blocks keeps the numpy reference quick
    expected = reference(array[..., ::-1], crop_border=0)  # basicsr reads BGR
    ours = niqe(torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255)
    assert ours == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
@pytest.mark.shared
def test_gray_scores_like_its_rgb_copy() -> None:
    gray = torch.from_numpy(load_array(KODAK / "kodim04.png")[:200, :300].copy()).permute(2, 0, 1).float() / 255
    gray = gray.mean(0, keepdim=True)
    assert niqe(gray) == pytest.approx(niqe(gray.expand(3, -1, -1)), abs=1e-6)


def test_too_small_or_flat() -> None:
    with pytest.raises(InputError, match="at least 192x96 pixels"):
        niqe(torch.rand(3, 100, 100))
    with pytest.raises(InputError, match="fewer than two of its 96x96 blocks have texture"):
        niqe(torch.full((3, 192, 192), 0.5))


def test_missing_extra_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import enhance.compat
    import enhance.metrics.naturalness as module

    def missing(name: str) -> None:
        raise ConfigError("the reference engine is not installed (basicsr is missing): install the extra")

    module._pristine.cache_clear()
    monkeypatch.setattr(enhance.compat, "import_reference", missing)
    try:
        with pytest.raises(ConfigError, match="metric 'niqe' uses basicsr's pristine-image model, but the reference"):
            niqe(torch.rand(3, 192, 192))
    finally:
        module._pristine.cache_clear()


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    x = torch.rand(3, 192, 288, generator=torch.Generator().manual_seed(3))
    assert niqe(x.cuda()) == pytest.approx(niqe(x), abs=1e-3)  # a float32 rounding may move one AGGD fit
