"""Tiled super-resolution: seamless blending, size requirements, batching, OOM and NaN fallbacks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from enhance.ops.tiling import TileStats, _fit, _profile, _starts, auto_tile, estimate_bytes_per_pixel, tiled_upscale
from tests.conftest import ANIMEVIDEOV3, KODAK
from tests.sr_models import tiny_compact_state


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    """A random SRVGGNetCompact x4 with 4 convolutions: receptive field radius 4 input pixels."""
    from enhance.models.load import descriptor_from_state_dict

    return descriptor_from_state_dict(tiny_compact_state(seed=1)).model.eval()


def pointwise_x2(x: torch.Tensor) -> torch.Tensor:
    """A 'model' with no spatial context: any tiling must reproduce it exactly."""
    return F.interpolate(x * 0.8 + 0.1, scale_factor=2, mode="nearest")


def image(h: int, w: int, seed: int = 0, c: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(c, h, w, generator=g)


def test_untiled_pass_is_the_model_output_clamped(tiny: torch.nn.Module) -> None:
    x = image(40, 36)
    with torch.no_grad():
        expected = tiny(x[None])[0].clamp(0, 1)
    out = tiled_upscale(x, tiny, 4, tile=0)
    assert out.shape == (3, 160, 144) and out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_blend_weights_are_a_partition_of_unity() -> None:
    x = image(70, 90)
    stats = TileStats()
    out = tiled_upscale(x, pointwise_x2, 2, tile=32, overlap=12, batch=3, stats=stats)
    torch.testing.assert_close(out, pointwise_x2(x[None])[0], atol=1e-6, rtol=0)
    assert stats.tile == 32 and stats.tiles > 4


def test_opposite_profiles_sum_to_one_across_an_overlap() -> None:
    left = _profile(64, 2, 16, False, True, device=torch.device("cpu"))
    right = _profile(64, 2, 16, True, False, device=torch.device("cpu"))
    # the last 32 output pixels of the left tile lie over the first 32 of the right one
    torch.testing.assert_close(left[-32:] + right[:32], torch.ones(32))
    assert left[0] == 1 and right[-1] == 1  # image borders keep full weight
    assert right[:8].abs().max() == 0  # the outer quarter of the overlap (too little context) is dropped


def test_tiles_shrink_to_the_fewest_that_cover_the_image() -> None:
    assert _fit(512, 256, 32, 1) == 192  # three tiles either way; 192 computes 44% fewer pixels
    assert _fit(512, 256, 32, 128) == 256  # rounded up to the model's multiple
    assert _fit(100, 128, 32, 1) == 100


def test_tile_origins_cover_the_axis_with_at_least_the_overlap() -> None:
    for length, tile, overlap in [(100, 32, 8), (129, 64, 16), (64, 64, 16), (20, 64, 16), (300, 128, 32)]:
        starts = _starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))


@pytest.mark.slow
def test_tiles_equal_the_whole_image_when_the_overlap_covers_the_receptive_field(tiny: torch.nn.Module) -> None:
    x = image(96, 80, seed=2)
    whole = tiled_upscale(x, tiny, 4, tile=0)
    tiled = tiled_upscale(x, tiny, 4, tile=40, overlap=20)  # 5px dropped margin > 4px receptive radius
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_batching_does_not_change_the_result(tiny: torch.nn.Module) -> None:
    x = image(64, 72, seed=3)
    one = tiled_upscale(x, tiny, 4, tile=32, overlap=8, batch=1)
    stats = TileStats()
    many = tiled_upscale(x, tiny, 4, tile=32, overlap=8, batch=4, stats=stats)
    assert stats.batch == 4
    torch.testing.assert_close(many, one, atol=1e-6, rtol=0)


@dataclass
class Picky:
    """Wraps a model and refuses inputs that break a size requirement, like a windowed transformer."""

    minimum: int = 24
    multiple_of: int = 8
    square: bool = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        assert h % self.multiple_of == 0 and w % self.multiple_of == 0, (h, w)
        assert min(h, w) >= self.minimum and (h == w or not self.square), (h, w)
        return pointwise_x2(x)


@pytest.mark.parametrize("tile", [0, 32])
def test_size_requirements_are_honoured_by_padding(tile: int) -> None:
    picky = Picky()
    x = image(37, 50, seed=4)
    out = tiled_upscale(x, picky, 2, tile=tile, overlap=8, size_requirements=picky)
    torch.testing.assert_close(out, pointwise_x2(x[None])[0], atol=1e-6, rtol=0)


def test_tiles_are_sized_to_the_models_multiple() -> None:
    assert auto_tile(4000, 4000, bytes_per_pixel=1000, budget=10**9, multiple_of=12, min_tile=32) % 12 == 0
    assert auto_tile(100, 100, bytes_per_pixel=1000, budget=10**9) == 0  # fits: the whole image at once
    assert auto_tile(10_000, 10_000, bytes_per_pixel=1000, budget=0, min_tile=32) == 32


class OutOfMemoryAbove:
    """Raises an out-of-memory error for inputs larger than ``limit`` pixels a side."""

    def __init__(self, model, limit: int, error: type[BaseException] | None = None) -> None:
        self.model, self.limit, self.sides = model, limit, []
        self.error = error

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sides.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            if self.error is None:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
            raise self.error("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123456789 bytes")
        return self.model(x)


@pytest.mark.slow
@pytest.mark.parametrize("error", [None, RuntimeError], ids=["cuda-oom", "cpu-oom"])
def test_out_of_memory_halves_the_tile_and_still_gives_the_right_output(tiny: torch.nn.Module, error) -> None:
    x = image(100, 90, seed=5)
    expected = tiled_upscale(x, tiny, 4, tile=0)
    flaky = OutOfMemoryAbove(tiny, limit=48, error=error)
    stats = TileStats()
    out = tiled_upscale(x, flaky, 4, tile=0, overlap=20, stats=stats)
    assert stats.oom_retries >= 1 and 0 < stats.tile < 100
    assert flaky.sides[0] == 100  # the first attempt was the whole image
    assert flaky.sides[-1] <= 48  # the one that worked was small enough
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_out_of_memory_at_the_floor_is_a_clear_error(tiny: torch.nn.Module) -> None:
    with pytest.raises(MemoryError, match=r"out of memory .* even with \d+px tiles"):
        tiled_upscale(image(80, 80), OutOfMemoryAbove(tiny, limit=8), 4, tile=64, overlap=8, min_tile=32)


def test_other_runtime_errors_are_not_swallowed(tiny: torch.nn.Module) -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("shape mismatch in conv")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        tiled_upscale(image(20, 20), broken, 4, tile=0)


class OverflowsInHalf:
    """Computes in fp32 and returns fp16, except that tiles containing a 'hot' pixel overflow."""

    def __init__(self, model, bad: float = float("nan")) -> None:
        self.model, self.bad = model, bad

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float16
        out = self.model(x.float()).half()
        hot = (x.float() > 0.999).flatten(1).any(dim=1)
        out[hot] = self.bad
        return out


@pytest.mark.slow
@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_half_precision_tiles_are_rerun_in_fp32(tiny: torch.nn.Module, bad: float) -> None:
    x = image(64, 64, seed=6) * 0.9
    x[:, 5, 5] = 1.0  # one hot pixel: only the tiles that contain it overflow
    expected = tiled_upscale(x, tiny, 4, tile=32, overlap=8)
    warnings: list[str] = []
    stats = TileStats()
    out = tiled_upscale(
        x, OverflowsInHalf(tiny, bad), 4, tile=32, overlap=8, dtype=torch.float16,
        fallback=tiny, warn=warnings.append, stats=stats,
    )  # fmt: skip
    assert torch.isfinite(out).all()
    assert 1 <= stats.fp32_reruns < stats.tiles
    assert len(warnings) == 1 and "fp32" in warnings[0]
    torch.testing.assert_close(out, expected, atol=2e-3, rtol=0)  # fp16 rounding in the other tiles


def test_non_finite_output_without_a_fallback_is_an_error(tiny: torch.nn.Module) -> None:
    x = torch.ones(3, 16, 16)
    with pytest.raises(FloatingPointError, match="precision fp32"):
        tiled_upscale(x, OverflowsInHalf(tiny), 4, tile=0, dtype=torch.float16)


def test_memory_estimate_is_positive_and_grows_with_the_model(tiny: torch.nn.Module) -> None:
    small = estimate_bytes_per_pixel(pointwise_x2, 3, device="cpu", dtype=torch.float32)
    big = estimate_bytes_per_pixel(tiny, 3, device="cpu", dtype=torch.float32)
    assert 0 < small < big


@pytest.mark.slow
def test_channels_last_input_gives_the_same_result(tiny: torch.nn.Module) -> None:
    x = image(48, 40, seed=7)
    torch.testing.assert_close(
        tiled_upscale(x, tiny, 4, tile=32, overlap=8, channels_last=True),
        tiled_upscale(x, tiny, 4, tile=32, overlap=8),
        atol=1e-5,
        rtol=0,
    )


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize(("name", "overlap"), [("kodim05", 32), ("kodim05", 16), ("kodim13", 16), ("kodim08", 16)])
def test_real_model_tiled_output_is_seamless(name: str, overlap: int) -> None:
    """animevideov3 on Kodak crops: tile 128 at overlap 16 and 32 vs the whole image in one pass
    (kodim13 and kodim08 at overlap 16 showed 6-9/255 when the overlap was also the only context)."""
    import numpy as np
    from PIL import Image

    from enhance.models.load import load_model

    model = load_model(ANIMEVIDEOV3, channels_last=True).model
    crop = np.asarray(Image.open(KODAK / f"{name}.png").convert("RGB"))[60:300, 40:280]
    x = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255
    whole = tiled_upscale(x, model, 4, tile=0, channels_last=True)
    stats = TileStats()
    tiled = tiled_upscale(x, model, 4, tile=128, overlap=overlap, channels_last=True, stats=stats)
    assert stats.tiles >= 9 and stats.overlap == overlap
    diff = (tiled - whole).abs()
    assert diff.max() <= 2 / 255, f"max abs difference {diff.max() * 255:.2f}/255"
    # no seam: the difference, averaged along each output row and column, shows no line at the
    # tile boundaries (a hard paste shows one as a spike of the profile there)
    rows, cols = diff.mean(dim=(0, 2)), diff.mean(dim=(0, 1))
    assert rows.max() <= 0.25 / 255 and cols.max() <= 0.25 / 255


@pytest.mark.cuda
def test_cuda_auto_tile_and_batched_tiles(tiny: torch.nn.Module) -> None:
    import copy

    model = copy.deepcopy(tiny).cuda().half().to(memory_format=torch.channels_last)
    x = image(96, 96, seed=8).cuda()
    stats = TileStats()
    whole = tiled_upscale(x, model, 4, tile="auto", dtype=torch.float16, channels_last=True, stats=stats)
    assert stats.tile == 0 and whole.device.type == "cuda"  # a small image fits: one pass
    one = tiled_upscale(x, model, 4, tile=32, overlap=8, batch=1, dtype=torch.float16, channels_last=True)
    stats = TileStats()
    many = tiled_upscale(x, model, 4, tile=32, overlap=8, batch="auto", dtype=torch.float16, stats=stats)
    assert stats.batch > 1
    torch.testing.assert_close(many, one, atol=2e-3, rtol=0)


# -- several images, progress, cancel ----------------------------------------------------------------


def test_the_tiles_of_several_images_share_passes_and_each_result_is_its_own(tiny: torch.nn.Module) -> None:
    """A batch of N images gives what each gives alone: exactly when each pass holds the tiles it
    holds alone (batch=1), within fp32 rounding when tiles of several images share a pass."""
    batch = torch.stack([image(40, 36, seed=s) for s in range(3)])
    alone = torch.stack([tiled_upscale(x, tiny, 4, tile=24, overlap=8, batch=1) for x in batch])
    assert torch.equal(tiled_upscale(batch, tiny, 4, tile=24, overlap=8, batch=1), alone)
    passes: list[int] = []

    def counted(t: torch.Tensor) -> torch.Tensor:
        passes.append(t.shape[0])
        return tiny(t)

    stats = TileStats()
    shared = tiled_upscale(batch, counted, 4, tile=24, overlap=8, batch=5, stats=stats)
    torch.testing.assert_close(shared, alone, atol=1e-5, rtol=0)
    per_image = stats.tiles // 3
    assert stats.tiles == 3 * per_image and sum(passes) == stats.tiles
    assert len(passes) == -(-stats.tiles // 5) and passes[0] == 5  # passes mix tiles of different images


def test_whole_images_of_a_batch_go_through_in_batches(tiny: torch.nn.Module) -> None:
    batch = torch.stack([image(20, 16, seed=s) for s in range(3)])
    sizes: list[int] = []

    def counted(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.shape[0])
        return tiny(t)

    out = tiled_upscale(batch, counted, 4, tile=0, batch=2)
    assert sizes == [2, 1] and out.shape == (3, 3, 80, 64)
    with torch.no_grad():
        torch.testing.assert_close(out, tiny(batch).clamp(0, 1), atol=1e-5, rtol=0)


def test_progress_counts_tiles_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []
    stats = TileStats()
    x = torch.stack([image(70, 90, seed=s) for s in range(2)])
    tiled_upscale(
        x, pointwise_x2, 2, tile=32, overlap=12, batch=3, stats=stats, progress=lambda d, t: calls.append((d, t))
    )
    total = stats.tiles
    assert calls[-1] == (total, total) and {t for _, t in calls} == {total}
    assert [d for d, _ in calls] == sorted({d for d, _ in calls}) and len(calls) == -(-total // 3)


@pytest.mark.parametrize("form", ["event", "callable"])
def test_cancel_stops_between_passes_and_frees_the_partial_result(form: str) -> None:
    import gc
    import threading
    import traceback
    import weakref

    from enhance.errors import Cancelled

    event = threading.Event()
    cancel = event if form == "event" else event.is_set
    outputs: list[weakref.ref] = []
    passes = 0

    def model(t: torch.Tensor) -> torch.Tensor:
        nonlocal passes
        passes += 1
        out = pointwise_x2(t)
        outputs.append(weakref.ref(out))
        return out

    def progress(done: int, total: int) -> None:
        if done >= 2:
            event.set()

    with pytest.raises(Cancelled, match="cancelled by the caller") as info:
        tiled_upscale(image(70, 90), model, 2, tile=32, overlap=12, batch=1, progress=progress, cancel=cancel)
    assert passes == 2  # stopped before the third pass
    gc.collect()
    assert all(ref() is None for ref in outputs)
    # the traceback keeps the frames alive: none of them still holds the partial [1,3,140,180] result
    frames = [frame for frame, _ in traceback.walk_tb(info.value.__traceback__)]
    held = [
        name
        for frame in frames
        for name, value in frame.f_locals.items()
        if isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-1] == 180
    ]
    assert held == []
    event.clear()
    with pytest.raises(Cancelled):
        tiled_upscale(image(16, 16), model, 2, tile=0, cancel=lambda: True)


def test_auto_tiles_bound_a_cpu_pass_however_much_memory_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a terabyte free, a large image still runs in tiles on CPU: a pass holds at most
    CPU_PASS_BUDGET, so memory follows the tile, not the image; a small image still runs whole."""
    from enhance.ops import tiling

    monkeypatch.setattr(tiling, "available_memory", lambda device: 1 << 40)
    sides: list[int] = []

    def model(t: torch.Tensor) -> torch.Tensor:
        sides.append(max(t.shape[-2:]))
        return pointwise_x2(t)

    per_pixel = 1024.0  # what estimate_bytes_per_pixel gives realesr-animevideov3 on CPU, about
    big, small = TileStats(), TileStats()
    out = tiled_upscale(image(1100, 1200), model, 2, tile="auto", bytes_per_pixel=per_pixel, stats=big)
    assert out.shape == (3, 2200, 2400)
    assert big.tile > 0 and max(sides) ** 2 * per_pixel <= tiling.CPU_PASS_BUDGET
    sides.clear()
    tiled_upscale(image(300, 200), model, 2, tile="auto", bytes_per_pixel=per_pixel, stats=small)
    assert small.tile == 0 and sides == [300]
