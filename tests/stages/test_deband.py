"""The deband stage: registered, validated parameters with units, seeds combined with the run's,
alpha untouched, grey supported, usable on numpy arrays without re-banding them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from enhance.context import RunContext
from enhance.image import Image
from enhance.metrics.banding import banding_index
from enhance.stages.deband import Deband, combine_seeds
from enhance.stages.registry import get_stage
from tests.synthetic import banded

SMALL = {"height": 192, "width": 256, "contrast": 0.25}


def test_registered_under_its_name() -> None:
    assert get_stage("deband") is Deband
    assert Deband.name == "deband" and Deband.description


def test_parameters_have_defaults_ranges_and_units() -> None:
    params = Deband().params
    assert params.model_dump() == {
        "threshold": 10.0,
        "radius": 16,
        "iterations": 3,
        "grain": 0.0,
        "seed": 0,
        "channels": "all",
    }
    fields = Deband.Params.model_fields
    assert "8-bit code" in (fields["threshold"].description or "")
    assert "pixels" in (fields["radius"].description or "")
    for bad in ({"threshold": 0}, {"radius": 1}, {"iterations": 6}, {"grain": -1}, {"channels": "red"}, {"size": 3}):
        with pytest.raises(ValidationError):
            Deband(**bad)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("threshold", 64.0),
        ("threshold", 64.5),
        ("threshold", 100.0),
        ("radius", 1),
        ("radius", 2),
        ("radius", 128),
        ("radius", 200),
        ("iterations", 5),
        ("iterations", 6),
        ("grain", 8.0),
        ("grain", 20.0),
    ],
)
def test_the_stage_and_the_op_accept_the_same_values(name: str, value: float) -> None:
    """One declaration of the limits: a value the stage refuses, the op refuses too, and the reverse."""
    from enhance.ops.debanding import deband

    try:
        Deband(**{name: value})
        stage_ok = True
    except ValidationError:
        stage_ok = False
    try:
        deband(torch.zeros(3, 16, 16), **{name: value})
        op_ok = True
    except ValueError:
        op_ok = False
    assert stage_ok == op_ok


def test_importing_the_stage_does_not_import_torch() -> None:
    code = "import sys, enhance.stages.deband; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_debands_and_keeps_alpha(device: str) -> None:
    frame = banded("posterized64", **SMALL)  # type: ignore[arg-type]
    alpha = torch.rand(1, *frame.image.shape[1:])
    image = Image(frame.image, alpha).to(device)
    out = Deband().process(image, RunContext(device=device))
    assert out.alpha is image.alpha
    assert out.meta is image.meta
    assert banding_index(out.pixels) < 0.2 * banding_index(image.pixels)


def test_grey_images_work(device: str) -> None:
    grey = Image(banded("posterized64", texture_region=False, **SMALL).image[:1]).to(device)  # type: ignore[arg-type]
    out = Deband().process(grey, RunContext(device=device))
    assert out.pixels.shape == grey.pixels.shape
    assert not torch.equal(out.pixels, grey.pixels)


@pytest.mark.slow
def test_seed_combines_the_run_seed_and_the_stage_seed() -> None:
    image = Image(banded("banded", **SMALL).image)  # type: ignore[arg-type]

    def run(run_seed: int, stage_seed: int) -> torch.Tensor:
        return Deband(seed=stage_seed).process(image, RunContext(seed=run_seed)).pixels

    assert torch.equal(run(1, 2), run(1, 2))
    assert not torch.equal(run(1, 2), run(3, 2))
    assert not torch.equal(run(1, 2), run(1, 4))
    assert combine_seeds(1, 2) != combine_seeds(2, 1)


@pytest.mark.slow
def test_numpy_uint8_in_numpy_uint8_out_without_bands() -> None:
    frame = banded("posterized32", **SMALL)  # type: ignore[arg-type]
    array = (frame.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = Deband()(array, RunContext())
    assert out.dtype == np.uint8 and out.shape == array.shape
    # the smooth result is dithered on the way back to 8 bits, so the bands do not return
    after = banding_index(torch.from_numpy(out).permute(2, 0, 1).float() / 255)
    assert after < 0.2 * banding_index(frame.image)
    # and the texture, left untouched, comes back exactly
    assert frame.texture_box is not None
    _, left, _, _ = frame.texture_box
    assert np.mean(out[:, left:] == array[:, left:]) > 0.95
