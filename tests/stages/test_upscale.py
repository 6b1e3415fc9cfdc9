"""The upscale stage: parity with upstream, gray/alpha/16-bit handling, target sizes, engines, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from enhance.context import RunContext
from enhance.errors import ConfigError, InputError
from enhance.image import Image, Metadata
from enhance.models import zoo
from enhance.models.load import load_model
from enhance.stages.upscale import Upscale, UpscaleParams, _resize, model_forward
from tests.conftest import ANIMEVIDEOV3, KODAK
from tests.sr_models import isolate_model_places, save_pth, tiny_compact_state


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("models") / "tiny-x4.pth", tiny_compact_state(seed=5))


@pytest.fixture(scope="module")
def nearest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Compact x4 whose output is exactly the nearest-neighbour upscale of its input."""
    return save_pth(tmp_path_factory.mktemp("models") / "nearest-x4.pth", tiny_compact_state(zero_last=True))


@pytest.fixture
def offline_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty model folders everywhere and no network; returns $ENHANCE_WEIGHTS."""
    return isolate_model_places(tmp_path, monkeypatch)["env"]


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- parameters and setup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"denoise_strength": 0.5, "model": "RealESRGAN_x4plus"},
        {"scale": 2, "long_side": 3840},
        {"size": [3840, 2160], "scale": 2},
        {"tile": -1},
        {"batch": 0},
        {"engine": "realesrgan", "precision": "bf16"},
        {"alpha": "nearest"},
        {"tiles": 256},
        {"scale": float("inf")},
        {"size": [0, 10]},
        {"long_side": 0},
    ],
)
def test_bad_parameters_are_refused(params: dict) -> None:
    with pytest.raises(ValidationError):
        Upscale(**params)


@pytest.mark.parametrize(
    "target",
    [{"scale": 0}, {"scale": float("nan")}, {"scale": 2.5}, {"size": [1, 0]}, {"size": [640, 360]}, {"long_side": 1}],
)
def test_target_sizes_are_the_resize_stages(target: dict) -> None:
    """Both stages that size the output declare the targets once: the same values pass or fail."""
    from enhance.stages.resize import ResizeParams

    outcomes = []
    for params in (UpscaleParams, ResizeParams):
        try:
            params(**target)
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(exc.errors()[0]["msg"])
    assert outcomes[0] == outcomes[1]


def test_denoise_strength_is_accepted_for_the_general_model() -> None:
    assert Upscale(model="realesr-general-x4v3", denoise_strength=0.3).params.denoise_strength == 0.3


def test_a_missing_model_stops_setup_with_the_url_and_the_folder(offline_places: Path) -> None:
    stage = Upscale(model="realesr-general-x4v3")
    with pytest.raises(ConfigError) as info:
        stage.ensure_setup(RunContext(device="cpu"))
    message = str(info.value)
    assert "realesr-general-x4v3.pth" in message and str(offline_places) in message and "\n" not in message


# -- one image --------------------------------------------------------------------------------------


def test_rgb_in_rgb_out_at_the_native_scale_with_results(tiny_path: Path, device: str) -> None:
    ctx = RunContext(device=device)
    out = Upscale(model=str(tiny_path), tile=32, tile_overlap=8)(rgb(20, 24), ctx)
    assert out.shape == (80, 96, 3) and out.dtype == np.uint8
    info = ctx.results["upscale"]
    assert info["native_scale"] == 4 and info["tile"] == 0 and info["fp32_reruns"] == 0
    assert info["dtype"] == ("float32" if device == "cpu" else "float16") and info["output_size"] == [96, 80]


def test_gray_in_gray_out_through_an_rgb_model(nearest_path: Path) -> None:
    gray = np.random.default_rng(1).integers(0, 256, (12, 10), dtype=np.uint8)
    out = Upscale(model=str(nearest_path))(gray, RunContext(device="cpu"))
    assert out.shape == (48, 40)
    np.testing.assert_array_equal(out, np.kron(gray, np.ones((4, 4), dtype=np.uint8)))


def test_rgb_through_a_one_channel_model_runs_each_plane(tmp_path: Path) -> None:
    path = save_pth(tmp_path / "gray.pth", tiny_compact_state(channels=1, seed=2))
    x = torch.rand(3, 16, 12, generator=torch.Generator().manual_seed(0))
    out = Upscale(model=str(path), tile=0)(x, RunContext(device="cpu"))
    model = load_model(path).model
    with torch.no_grad():
        planes = [model(x[i : i + 1][None])[0].clamp(0, 1) for i in range(3)]
    torch.testing.assert_close(out, torch.cat(planes), atol=1e-5, rtol=0)


def disc_rgba(size: int = 32) -> Image:
    """An opaque red disc with a soft edge on a transparent background whose colour is black."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2).sqrt()
    alpha = (size / 3 - r).clamp(0, 1)[None]
    colour = torch.zeros(3, size, size)
    colour[0] = (alpha[0] > 0).float()  # red where visible, black where transparent
    return Image(colour, alpha, Metadata())


def test_alpha_edges_get_no_dark_fringes(nearest_path: Path) -> None:
    """A linear 'model' (bilinear x4) exposes the fringe: straight-alpha upscaling mixes in the black."""

    def bilinear(planes: torch.Tensor) -> torch.Tensor:
        return F.interpolate(planes[None], scale_factor=4, mode="bilinear", align_corners=False)[0]

    def bilinear_model(batch: torch.Tensor) -> torch.Tensor:
        return F.interpolate(batch, scale_factor=4, mode="bilinear", align_corners=False)

    stage = Upscale(model=str(nearest_path), alpha="bicubic", model_call=lambda descriptor: bilinear_model)
    image = disc_rgba()
    stage.ensure_setup(RunContext(device="cpu"))
    out = stage.process(image, RunContext(device="cpu"))
    visible = out.alpha[0] > 0.05
    assert out.alpha.shape == (1, 128, 128) and visible.any()
    assert out.pixels[0][visible].min() > 0.97, "red darkened at the edge"
    naive = bilinear(image.pixels)[0][visible]  # what upscaling colour without alpha gives
    assert naive.min() < 0.5


def test_alpha_through_the_model_and_opaque_alpha_costs_nothing(nearest_path: Path) -> None:
    image = disc_rgba(16)
    out = Upscale(model=str(nearest_path), alpha="model")(image, RunContext(device="cpu"))
    torch.testing.assert_close(out.alpha, F.interpolate(image.alpha[None], scale_factor=4)[0], atol=1e-6, rtol=0)
    calls = []

    def counting(descriptor):
        forward = model_forward(descriptor)
        return lambda batch: calls.append(batch.shape) or forward(batch)

    # tile 0 and batch 1: no memory probe, so every call is a pass over the image
    stage = Upscale(model=str(nearest_path), tile=0, batch=1, model_call=counting)
    stage.ensure_setup(RunContext(device="cpu"))
    opaque = Image(image.pixels, torch.ones_like(image.alpha), Metadata())
    result = stage.process(opaque, RunContext(device="cpu"))
    assert len(calls) == 1 and bool((result.alpha == 1).all())


def test_sixteen_bit_precision_survives_the_stage(nearest_path: Path) -> None:
    levels = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 64, 64) / 65535.0  # 4096 distinct 16-bit codes
    image = Image(levels.expand(3, -1, -1).contiguous(), None, Metadata(bit_depth=16))
    ctx = RunContext(device="cpu")
    out = Upscale(model=str(nearest_path))(image, ctx)
    assert ctx.results["upscale"]["dtype"] == "float32"
    torch.testing.assert_close(out.pixels, F.interpolate(image.pixels[None], scale_factor=4)[0], atol=1e-7, rtol=0)
    assert out.pixels.unique().numel() == 4096  # nothing was rounded to 8 bits


@pytest.mark.parametrize(
    ("params", "shape"),
    [
        ({"size": [50, 30]}, (30, 50)),
        ({"long_side": 60}, (45, 60)),
        ({"scale": 2}, (30, 40)),
        ({}, (60, 80)),
        ({"scale": 1.5}, (23, 30)),  # 22.5 rounds half up, as the resize stage does (not to even)
        ({"long_side": 10}, (8, 10)),  # 7.5 likewise
    ],
)
def test_output_size_targets(tiny_path: Path, params: dict, shape: tuple[int, int]) -> None:
    x = torch.rand(3, 15, 20, generator=torch.Generator().manual_seed(3))
    ctx = RunContext(device="cpu")
    out = Upscale(model=str(tiny_path), **params)(x, ctx)
    assert tuple(out.shape[-2:]) == shape and ctx.results["upscale"]["output_size"] == [shape[1], shape[0]]


def test_scale_two_with_a_x4_model_is_the_native_output_downscaled(tiny_path: Path) -> None:
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(4))
    native = Upscale(model=str(tiny_path))(x, RunContext(device="cpu"))
    half = Upscale(model=str(tiny_path), scale=2)(x, RunContext(device="cpu"))
    torch.testing.assert_close(half, _resize(native, (32, 32), "lanczos"), atol=1e-6, rtol=0)


def test_both_engines_agree(tiny_path: Path) -> None:
    x = torch.rand(3, 20, 18, generator=torch.Generator().manual_seed(5))
    ours = Upscale(model=str(tiny_path), tile=0, precision="fp32")(x, RunContext(device="cpu"))
    theirs = Upscale(model=str(tiny_path), tile=0, engine="realesrgan")(x, RunContext(device="cpu"))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_denoise_strength_interpolates_with_the_wdn_twin(offline_places: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    general, wdn = zoo.ZOO["realesr-general-x4v3"], zoo.ZOO["realesr-general-wdn-x4v3"]
    for e, seed in ((general, 1), (wdn, 2)):  # tiny stand-ins: unpinned, trusted on first use
        monkeypatch.setitem(zoo.ZOO, e.name, zoo.ModelEntry(**{**e.__dict__, "sha256": ()}))
        save_pth(offline_places / e.filename, tiny_compact_state(seed=seed))
    x = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(6))
    out = Upscale(model="realesr-general-x4v3", denoise_strength=0.3, tile=0)(x, RunContext(device="cpu"))
    mixed = load_model(offline_places / general.filename, interpolate_with=(offline_places / wdn.filename, 0.3))
    with torch.no_grad():
        expected = mixed.model(x[None])[0].clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_the_wdn_twin_beside_the_model_must_pass_its_pin(offline_places: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    general, wdn = zoo.ZOO["realesr-general-x4v3"], zoo.ZOO["realesr-general-wdn-x4v3"]
    monkeypatch.setitem(zoo.ZOO, general.name, zoo.ModelEntry(**{**general.__dict__, "sha256": ()}))
    monkeypatch.setitem(zoo.ZOO, wdn.name, zoo.ModelEntry(**{**wdn.__dict__, "sha256": ("0" * 64,)}))
    save_pth(offline_places / general.filename, tiny_compact_state(seed=1))
    save_pth(offline_places / wdn.filename, tiny_compact_state(seed=2))  # not the pinned file
    with pytest.raises(ConfigError, match="does not match model 'realesr-general-wdn-x4v3'"):
        Upscale(model="realesr-general-x4v3", denoise_strength=0.3).setup(RunContext(device="cpu"))


def test_running_out_of_memory_fails_the_image_with_its_name(nearest_path: Path) -> None:
    def exhausted(descriptor):
        def forward(batch):
            raise MemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

        return forward

    # every tile size runs out: the tiler halves down to min_tile, then gives up with a MemoryError
    stage = Upscale(model=str(nearest_path), tile=0, batch=1, model_call=exhausted)
    ctx = RunContext(device="cpu", path=Path("in/huge.png"))
    stage.ensure_setup(ctx)
    with pytest.raises(InputError, match=r"in/huge\.png: upscale failed: out of memory"):
        stage.process(disc_rgba(8), ctx)


# -- the real model ---------------------------------------------------------------------------------

KODAK_CROPS = [("kodim05.png", 100, 120), ("kodim13.png", 250, 40), ("kodim23.png", 180, 300)]


@pytest.mark.slow
@pytest.mark.shared
def test_untiled_fp32_output_equals_upstream_realesrganer() -> None:
    """Parity: our stage and upstream RealESRGANer (tile=0, pre_pad=0, fp32) on the real model."""
    from PIL import Image as PILImage

    from enhance.compat import import_reference

    realesrgan = import_reference("realesrgan")
    srvgg = import_reference("realesrgan.archs.srvgg_arch")
    net = srvgg.SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type="prelu")
    upstream = realesrgan.RealESRGANer(
        scale=4, model_path=str(ANIMEVIDEOV3), model=net, tile=0, pre_pad=0, half=False, device=torch.device("cpu")
    )
    stage = Upscale(model=str(ANIMEVIDEOV3), tile=0, precision="fp32")
    for name, top, left in KODAK_CROPS:
        crop = np.asarray(PILImage.open(KODAK / name).convert("RGB"))[top : top + 128, left : left + 144].copy()
        ours = stage(crop, RunContext(device="cpu"))
        theirs, _ = upstream.enhance(crop[:, :, ::-1].copy())  # upstream takes and returns BGR
        diff = np.abs(ours.astype(int) - theirs[:, :, ::-1].astype(int))
        assert ours.shape == (512, 576, 3) and diff.max() <= 1, f"{name}: max difference {diff.max()}/255"


# -- CUDA -------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.shared
def test_cuda_fp16_channels_last_matches_cpu_fp32() -> None:
    from PIL import Image as PILImage

    crop = np.asarray(PILImage.open(KODAK / "kodim05.png").convert("RGB"))[:256, :256].copy()
    cpu = Upscale(model=str(ANIMEVIDEOV3), tile=0, precision="fp32")(crop, RunContext(device="cpu"))
    ctx = RunContext(device="cuda")
    gpu = Upscale(model=str(ANIMEVIDEOV3), tile=128)(crop, ctx)
    assert ctx.results["upscale"]["dtype"] == "float16" and ctx.results["upscale"]["fp32_reruns"] == 0
    diff = np.abs(cpu.astype(int) - gpu.astype(int))
    assert diff.max() <= 4 and diff.mean() < 0.5


@pytest.mark.cuda
def test_cuda_half_precision_overflow_is_rerun_in_fp32(tiny_path: Path) -> None:
    def overflowing(descriptor):
        call = model_forward(descriptor)
        if next(descriptor.model.parameters()).dtype != torch.float16:
            return call

        def run(t):
            out = call(t)
            out[t.float().flatten(1).amax(dim=1) > 0.999] = float("inf")
            return out

        return run

    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(7)) * 0.9
    x[:, 3, 3] = 1.0
    expected = Upscale(model=str(tiny_path), tile=32, precision="fp32")(x, RunContext(device="cuda"))
    ctx = RunContext(device="cuda")
    out = Upscale(model=str(tiny_path), tile=32, precision="fp16", model_call=overflowing)(x, ctx)
    assert ctx.results["upscale"]["fp32_reruns"] >= 1 and len(ctx.warnings) == 1
    torch.testing.assert_close(out.cpu(), expected.cpu(), atol=3e-3, rtol=0)


@pytest.mark.cuda
def test_cuda_sixteen_bit_sources_run_in_fp32(nearest_path: Path) -> None:
    image = Image(torch.rand(3, 16, 16), None, Metadata(bit_depth=16))
    ctx = RunContext(device="cuda")
    Upscale(model=str(nearest_path))(image, ctx)
    assert ctx.results["upscale"]["dtype"] == "float32"


def test_the_memory_estimate_sees_every_layer_through_spandrels_call(tmp_path: Path) -> None:
    """spandrel wraps every model in a call function; the CPU estimate must still hook its layers
    (through a bare lambda it saw only the output, and a large model ran whole and swapped)."""
    from enhance.ops.tiling import estimate_bytes_per_pixel

    wide = save_pth(tmp_path / "wide_x2.pth", tiny_compact_state(scale=2, feat=64))  # 64 features >> 3x4 outputs
    descriptor = load_model(wide)
    call = model_forward(descriptor)
    assert callable(getattr(call, "modules", None))
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(call(x), descriptor.model(x))
    through_call = estimate_bytes_per_pixel(call, 3, device="cpu", dtype=torch.float32)
    direct = estimate_bytes_per_pixel(descriptor.model, 3, device="cpu", dtype=torch.float32)
    output_only = estimate_bytes_per_pixel(lambda t: descriptor.model(t), 3, device="cpu", dtype=torch.float32)
    assert through_call == direct > output_only
