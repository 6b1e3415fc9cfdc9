"""The input contract: every kind and layout a stage, pipeline or op takes comes back as it came
(kind, layout, dtype, device, channel order); what is refused is refused by one error naming the
shape received and the shapes accepted; calls are stateless."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from enhance import ops
from enhance.context import RunContext
from enhance.convert import coerce, from_images, restore_kind, to_images
from enhance.errors import EnhanceError, ImageFormatError
from enhance.image import Image
from enhance.pipeline import Pipeline
from enhance.stages.base import Stage
from enhance.stages.resize import Resize
from enhance.stages.score import Score


class Same(Stage):
    """Returns what it is given, and notes the compute-side image it saw."""

    name: ClassVar[str] = "same"
    description: ClassVar[str] = "identity, for tests"

    def process(self, image: Image, ctx: RunContext) -> Image:
        ctx.results["seen"] = {
            "shape": list(image.rgba().shape),
            "device": str(image.device),
            "red": float(image.pixels[0].mean()),
        }
        return image


class NoRed(Stage):
    """Sets the red plane to 0: shows which input channel enhance took as red."""

    name: ClassVar[str] = "no_red"
    description: ClassVar[str] = "red plane to zero, for tests"

    def process(self, image: Image, ctx: RunContext) -> Image:
        pixels = image.pixels.clone()
        pixels[0] = 0
        return image.replace(pixels=pixels)


CPU = RunContext(device="cpu")


def ramp(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    """Distinct float values in [0, 1] on the 16-bit grid (exact in uint8/uint16 after scaling back)."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float64) / 255.0


# -- numpy -----------------------------------------------------------------------------------------


NUMPY_DTYPES = ["uint8", "uint16", "float16", "float32", "float64"]


def as_numpy(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "uint8":
        return np.round(values * 255).astype(np.uint8)
    if dtype == "uint16":
        return np.round(values * 65535).astype(np.uint16)
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((12, 10), None),
        ((12, 10, 1), None),
        ((12, 10, 3), None),
        ((12, 10, 4), None),
        ((2, 12, 10, 3), None),  # a batch, channels-last like every numpy image
        ((3, 12, 10), "CHW"),
        ((2, 3, 12, 10), "BCHW"),
    ],
)
def test_numpy_round_trips_with_its_dtype_and_layout(dtype: str, shape: tuple[int, ...], layout: str | None) -> None:
    given = as_numpy(ramp(shape), dtype)
    out = Same()(given, CPU, layout=layout)
    assert isinstance(out, np.ndarray) and out.dtype == given.dtype and out.shape == given.shape
    if dtype == "float64":  # computed in float32
        np.testing.assert_allclose(out, given, atol=1e-7, rtol=0)
    else:
        np.testing.assert_array_equal(out, given)


def test_uint16_arrays_keep_sixteen_bits() -> None:
    given = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    image, _ = coerce(given)
    assert image.meta.bit_depth == 16  # so upscale computes it in fp32 (see the upscale tests)
    assert np.array_equal(Same()(given, CPU), given)


# -- torch -----------------------------------------------------------------------------------------


TORCH_DTYPES = ["uint8", "uint16", "float16", "bfloat16", "float32", "float64"]
TORCH_LAYOUTS = [
    ((3, 12, 10), None, "CHW"),
    ((12, 10), None, "HW"),
    ((1, 12, 10), None, "CHW"),
    ((4, 12, 10), None, "CHW"),
    ((2, 3, 12, 10), None, "BCHW"),
    ((2, 12, 10, 3), None, "BHWC"),  # ComfyUI's IMAGE
    ((12, 10, 3), None, "HWC"),
    ((1, 3, 12, 3), "BCHW", "BCHW"),  # both readings fit: said explicitly
    ((1, 3, 12, 3), "BHWC", "BHWC"),
]


def as_tensor(values: np.ndarray, dtype: str, device: str) -> torch.Tensor:
    if dtype == "uint8":
        t = torch.from_numpy(np.round(values * 255).astype(np.uint8))
    elif dtype == "uint16":
        t = torch.from_numpy(np.round(values * 65535).astype(np.uint16))
    else:
        t = torch.from_numpy(values).to(getattr(torch, dtype))
    return t.to(device)


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
@pytest.mark.parametrize(("shape", "layout", "read_as"), TORCH_LAYOUTS)
def test_tensors_round_trip_with_dtype_layout_and_device(
    device: str, dtype: str, shape: tuple[int, ...], layout: str | None, read_as: str
) -> None:
    given = as_tensor(ramp(shape), dtype, device)
    out, ctx = Same()(given, RunContext(device=device), layout=layout, return_results=True)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == given.dtype and out.shape == given.shape and out.device == given.device
    if dtype == "float64":
        torch.testing.assert_close(out, given, atol=1e-7, rtol=0)
    elif dtype == "uint16":
        assert torch.equal(out.to(torch.int32), given.to(torch.int32))
    else:
        assert torch.equal(out, given)
    # the layout was read as said: the image the stage saw has the right channel count and size
    seen = (ctx if isinstance(ctx, RunContext) else ctx[0]).results["seen"]["shape"]
    channels = 1 if read_as == "HW" else shape[read_as.index("C")]
    assert seen == [channels, shape[read_as.index("H")], shape[read_as.index("W")]]
    assert isinstance(ctx, list) == read_as.startswith("B")


@pytest.mark.cuda
def test_a_cpu_tensor_comes_back_on_the_cpu_when_the_work_runs_on_cuda() -> None:
    given = torch.rand(2, 16, 12, 3, dtype=torch.float16)
    out, contexts = Same()(given, RunContext(device="cuda"), return_results=True)
    assert out.device.type == "cpu" and out.dtype == torch.float16 and torch.equal(out, given)
    assert all(c.results["seen"]["device"].startswith("cuda") for c in contexts)


@pytest.mark.cuda
def test_a_cuda_fp16_tensor_comes_back_as_one_through_a_cpu_pipeline() -> None:
    given = torch.rand(3, 16, 12, device="cuda").half()
    out = Pipeline([Resize(scale=2, method="bicubic")], device="cpu")(given)
    assert out.device.type == "cuda" and out.dtype == torch.float16 and out.shape == (3, 32, 24)


# -- PIL, Image, paths, BGR ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_pil_images_round_trip(mode: str) -> None:
    array = np.round(ramp((12, 10, len(mode))) * 255).astype(np.uint8)
    given = PILImage.fromarray(array[:, :, 0] if mode == "L" else array, mode)
    out = Same()(given, CPU)
    assert isinstance(out, PILImage.Image) and out.mode == mode and np.array_equal(np.asarray(out), np.asarray(given))


def test_an_image_stays_an_image_and_a_path_becomes_one(tmp_path) -> None:
    array = np.round(ramp((12, 10, 3)) * 255).astype(np.uint8)
    PILImage.fromarray(array).save(tmp_path / "in.png")
    from_path = Same()(tmp_path / "in.png", CPU)
    assert isinstance(from_path, Image) and from_path.size == (10, 12)
    again = Same()(from_path, CPU)
    assert isinstance(again, Image) and torch.equal(again.pixels, from_path.pixels)


@pytest.mark.parametrize("kind", ["numpy", "tensor"])
def test_bgr_input_comes_back_bgr(kind: str) -> None:
    """chaiNNer's and OpenCV's order: the first channel is blue, and stays first on the way out."""
    bgr = np.zeros((8, 6, 3), dtype=np.float32)
    bgr[:, :, 0], bgr[:, :, 2] = 0.25, 0.75  # blue 0.25, red 0.75
    given = bgr if kind == "numpy" else torch.from_numpy(bgr)
    _, ctx = Same()(given, CPU, channel_order="bgr", return_results=True)
    assert ctx.results["seen"]["red"] == pytest.approx(0.75)
    out = NoRed()(given, CPU, channel_order="bgr")
    out = np.asarray(out)
    assert out[:, :, 2].max() == 0 and out[:, :, 0].min() == pytest.approx(0.25)  # red (last) zeroed, blue kept


# -- refusals: one error, one place ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "layout", "says"),
    [
        (torch.rand(1, 3, 12, 3), None, ["[1,3,12,3]", "layout='BCHW' or layout='BHWC'"]),
        (torch.rand(3, 12, 4), None, ["[3,12,4]", "both CHW and HWC fit"]),
        (torch.rand(2, 8, 12, 10), None, ["[2,8,12,10]", "no axis holds 1 to 4 channels"]),
        (torch.rand(1, 2, 3, 4, 5), None, ["5 dimensions"]),
        (torch.zeros(3, 8, 8, dtype=torch.int32), None, ["dtype int32"]),
        (torch.rand(2, 12, 10, 3), "BCHW", ["as BCHW it has 12 channels"]),
        (torch.rand(12, 10, 3), "BHWC", ["layout BHWC needs 4 dimensions"]),
        (torch.rand(3, 12, 10), "NCHW", ["layout 'NCHW' is not one of"]),
        (np.zeros((3, 12, 10), dtype=np.uint8), None, ["[3,12,10]", "pass layout='CHW'"]),
        (np.zeros((12, 10, 3), dtype=np.int64), None, ["dtype int64"]),
        (np.zeros((12, 10, 6), dtype=np.uint8), None, ["as HWC it has 6 channels"]),
        ([[0.5]], None, ["cannot use list"]),
    ],
)
def test_what_is_refused_is_named_with_what_is_accepted(given: object, layout: str | None, says: list[str]) -> None:
    with pytest.raises(ImageFormatError) as info:
        Same()(given, CPU, layout=layout)
    message = str(info.value)
    for text in [*says, "accepted: numpy HxW", "torch [C,H,W]"]:
        assert text in message, message
    assert "\n" not in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, EnhanceError)


def test_coerce_takes_one_image_and_restores_it() -> None:
    one = torch.rand(1, 3, 8, 8)
    image, kind = coerce(one)
    assert torch.equal(restore_kind(image, kind), one)
    with pytest.raises(ImageFormatError, match="a batch of 2 images where one image is expected"):
        coerce(torch.rand(2, 3, 8, 8))


def test_a_batch_whose_images_come_out_in_different_sizes_is_an_error() -> None:
    images, kind = to_images(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="different shapes"):
        from_images([images[0], Resize(long_side=4).process(images[1], RunContext())], kind)


# -- batches and results ------------------------------------------------------------------------------


def test_a_batch_runs_each_image_and_returns_each_images_results() -> None:
    batch = torch.rand(3, 20, 16, 3)  # ComfyUI-like
    out, contexts = Resize(long_side=10)(batch, CPU, return_results=True)
    assert out.shape == (3, 10, 8, 3) and len(contexts) == 3
    for i, ctx in enumerate(contexts):
        assert ctx.results["resize"] == [{"from": [16, 20], "to": [8, 10], "method": "lanczos"}]
        single = Resize(long_side=10)(batch[i], CPU, layout="HWC")
        torch.testing.assert_close(out[i], single, atol=1e-6, rtol=0)


def test_a_pipeline_takes_a_channels_last_batch() -> None:
    pipe = Pipeline([Resize(long_side=8), Score(metrics=["entropy"])], device="cpu")
    out, contexts = pipe(torch.rand(2, 16, 16, 3), return_results=True)
    assert out.shape == (2, 8, 8, 3) and out.dtype == torch.float32
    assert [set(c.results) for c in contexts] == [{"resize", "scores", "scores_at"}] * 2


# -- stateless calls ------------------------------------------------------------------------------------


def test_reusing_a_context_never_scores_one_image_against_another() -> None:
    """One RunContext for two calls: each image is its own "before"; the caller's context is left
    as it was given (the bug: the first call stored its image as ctx.source, and the second image
    was scored against it)."""
    flat = torch.full((3, 32, 32), 0.5)
    noisy = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    ctx = RunContext(device="cpu")
    stage = Score(metrics=["entropy"])
    stage(flat, ctx)
    stage(noisy, ctx)
    assert ctx.source is None and ctx.results == {} and ctx.warnings == []
    _, first = stage(flat, ctx, return_results=True)
    _, second = stage(noisy, ctx, return_results=True)
    assert first.results["scores"]["entropy"]["delta"] == 0.0
    assert second.results["scores"]["entropy"]["delta"] == 0.0  # noisy against noisy, not against flat
    assert second.results["scores"]["entropy"]["after"] > 5.0


def test_a_source_given_in_the_context_is_every_calls_before() -> None:
    before = Image(torch.full((3, 32, 32), 0.5))
    after = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    _, ctx = Score(metrics=["entropy"])(after, RunContext(device="cpu", source=before), return_results=True)
    assert ctx.results["scores"]["entropy"]["before"] == 0.0 and ctx.results["scores"]["entropy"]["delta"] > 5.0


# -- the ops ------------------------------------------------------------------------------------------


def test_the_image_ops_take_channels_last_and_hand_it_back(dtype: torch.dtype) -> None:
    bhwc = torch.rand(2, 24, 20, 3, generator=torch.Generator().manual_seed(1)).to(dtype)
    bchw = bhwc.permute(0, 3, 1, 2)
    out = ops.deband(bhwc, layout="BHWC", seed=3)
    assert out.dtype == dtype and out.shape == bhwc.shape
    assert torch.equal(out, ops.deband(bchw, seed=3).permute(0, 2, 3, 1))
    out = ops.resize(bhwc, (12, 10), "bicubic", layout="BHWC")
    assert out.dtype == dtype and out.shape == (2, 12, 10, 3)
    assert torch.equal(out, ops.resize(bchw, (12, 10), "bicubic").permute(0, 2, 3, 1))
    hwc = bhwc[0]
    assert torch.equal(
        ops.resize_to(hwc, long_side=12, layout="HWC"), ops.resize_to(bchw[0], long_side=12).permute(1, 2, 0)
    )


def test_an_op_refuses_with_the_same_error() -> None:
    with pytest.raises(ImageFormatError, match=r"deband takes float \[C,H,W\] or \[B,C,H,W\].*pass layout="):
        ops.deband(torch.rand(2, 24, 20, 3))
    with pytest.raises(ImageFormatError, match="as BCHW it has 24 channels"):
        ops.resize(torch.rand(2, 24, 20, 3), (4, 4), layout="BCHW")


class InPlace(Stage):
    """Writes into the pixels it is given (a careless third-party stage)."""

    name: ClassVar[str] = "in_place"
    description: ClassVar[str] = "zeroes its input in place, for tests"

    def process(self, image: Image, ctx: RunContext) -> Image:
        image.pixels.zero_()
        return image


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 3, 8, 8), (2, 8, 8, 3)])
def test_the_callers_tensor_is_never_handed_to_a_stage(shape: tuple[int, ...]) -> None:
    given = torch.rand(shape)
    kept = given.clone()
    assert float(InPlace()(given, CPU).abs().max()) == 0.0
    assert torch.equal(given, kept)
