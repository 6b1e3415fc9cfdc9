"""The realesrgan engine: upstream RealESRGANer on upstream networks, behind the weights-only check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from enhance.errors import ConfigError
from enhance.models.load import load_model
from enhance.models.reference import ReferenceUpscaler, build_reference_net
from tests.sr_models import save_pth, tiny_compact_state, tiny_rrdb_state


@pytest.mark.parametrize("make", [tiny_compact_state, tiny_rrdb_state], ids=["compact", "rrdb"])
def test_upstream_network_loads_strictly_and_matches_spandrel(tmp_path: Path, make) -> None:
    state = make(seed=4)
    net, scale = build_reference_net({"params": state})
    net.load_state_dict(state, strict=True)  # same hyper-parameters as the file
    path = save_pth(tmp_path / "m.pth", state)
    x = torch.rand(3, 24, 20, generator=torch.Generator().manual_seed(0))
    ours = load_model(path).model.eval()
    with torch.no_grad():
        expected = ours(x[None])[0].clamp(0, 1)
    got = ReferenceUpscaler(path)(x)
    assert scale == 4 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_upstream_interpolation_matches_ours(tmp_path: Path) -> None:
    a = save_pth(tmp_path / "a.pth", tiny_compact_state(seed=1))
    b = save_pth(tmp_path / "b.pth", tiny_compact_state(seed=2))
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    ours = load_model(a, interpolate_with=(b, 0.25)).model
    with torch.no_grad():
        expected = ours(x[None])[0].clamp(0, 1)
    torch.testing.assert_close(ReferenceUpscaler(a, interpolate_with=(b, 0.25))(x), expected, atol=1e-5, rtol=0)


def test_files_are_vetted_before_upstream_unpickles_them(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"params": tiny_compact_state(), "x": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match="refused"):
        ReferenceUpscaler(tmp_path / "evil.pth")
    assert not marker.exists()


def test_checkpoints_upstream_cannot_load_are_clear_errors(tmp_path: Path) -> None:
    bare = save_pth(tmp_path / "bare.pth", tiny_compact_state(), key=None)
    with pytest.raises(ConfigError, match=r"no 'params'/'params_ema' entry.*engine: spandrel"):
        ReferenceUpscaler(bare)
