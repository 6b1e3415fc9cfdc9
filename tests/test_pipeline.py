"""Pipeline: building from YAML, running on every image kind, metadata and bit depth end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin

from enhance import Image, Pipeline
from enhance.config import OutputSpec
from enhance.errors import ConfigError
from enhance.stages.resize import Resize


def tagged_png(path: Path) -> dict[str, object]:
    """An RGB PNG with an ICC profile, EXIF and a generator's `parameters` text chunk."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PILImage.Exif()
    exif[0x010F] = "GeneratorCam"  # Make
    exif[0x0131] = "diffusion v9"  # Software
    info = PngImagePlugin.PngInfo()
    params = "a red fox in snow\nNegative prompt: blur\nSteps: 28, Sampler: DPM++ 2M, Seed: 42"
    info.add_text("parameters", params)
    array = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    PILImage.fromarray(array).save(path, pnginfo=info, icc_profile=icc, exif=exif.tobytes())
    return {"icc": icc, "params": params}


def test_resize_only_pipeline_keeps_icc_exif_and_parameters(tmp_path: Path) -> None:
    expected = tagged_png(tmp_path / "in.png")
    Pipeline([Resize(long_side=32)], device="cpu").run_file(tmp_path / "in.png", tmp_path / "out.png")
    with PILImage.open(tmp_path / "out.png") as out:
        assert out.size == (32, 32)
        assert out.info["icc_profile"] == expected["icc"]
        assert out.text["parameters"] == expected["params"]
        exif = out.getexif()
        assert exif[0x010F] == "GeneratorCam" and exif[0x0131] == "diffusion v9"


def test_16_bit_png_can_come_out_16_bit(tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    PILImage.fromarray(ramp).save(tmp_path / "in16.png")
    pipe = Pipeline([Resize(scale=1.0)], output=OutputSpec(bit_depth=16), device="cpu")
    pipe.run_file(tmp_path / "in16.png", tmp_path / "out16.png")
    with PILImage.open(tmp_path / "out16.png") as out:
        assert out.mode in ("I;16", "I")
        assert np.array_equal(np.array(out).astype(np.uint16), ramp)
    eight = Pipeline([Resize(scale=1.0)], output=OutputSpec(bit_depth=8, dither=False), device="cpu")
    eight.run_file(tmp_path / "in16.png", tmp_path / "out8.png")
    with PILImage.open(tmp_path / "out8.png") as out:
        assert out.mode == "L"


def test_pipeline_is_callable_on_every_image_kind(tmp_path: Path) -> None:
    pipe = Pipeline([Resize(size=(20, 10), method="area")], device="cpu")
    array = np.random.default_rng(0).integers(0, 256, (40, 80, 3), dtype=np.uint8)
    out = pipe(array)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (10, 20, 3)
    out16 = pipe(array.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16 and out16.shape == (10, 20, 3)
    tensor = pipe(torch.rand(3, 40, 80))
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3, 10, 20)
    pil = pipe(PILImage.fromarray(array))
    assert isinstance(pil, PILImage.Image) and pil.size == (20, 10)
    PILImage.fromarray(array).save(tmp_path / "a.png")
    image = pipe(tmp_path / "a.png")
    assert isinstance(image, Image) and image.size == (20, 10) and image.meta.source == tmp_path / "a.png"


def test_from_yaml_with_overrides(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text("pipelines:\n  small:\n    device: cpu\n    stages:\n      - resize: {long_side: 32}\n")
    pipe = Pipeline.from_yaml(config, "small", overrides=["resize.long_side=8"])
    assert pipe.name == "small" and pipe.stages[0].params.long_side == 8
    assert pipe(np.zeros((16, 16, 3), np.uint8)).shape == (8, 8, 3)


def test_bad_device_is_a_config_error_at_setup() -> None:
    with pytest.raises(ConfigError, match="not valid"):
        Pipeline([Resize(long_side=8)], device="gpu0").setup()


def test_stages_must_be_stage_instances() -> None:
    with pytest.raises(TypeError, match="Stage instances"):
        Pipeline([lambda x: x])  # type: ignore[list-item]
