"""Run a super-resolution model over an image in tiles: seamless, batched, memory-safe.

Written here because no library does all of it together: upstream ``RealESRGANer`` pastes tiles
hard (seams where the model's context differs), runs one tile per forward pass, turns an
out-of-memory error into an unbound variable, and returns a black image when fp16 overflows.

* **Seamless.** Each tile goes through the model with up to ``overlap`` pixels of context on every
  side (cropped from its output, like upstream's ``tile_pad``), so no output pixel was computed
  near a cut, and neighbouring tiles also share ``overlap // 2`` pixels where they are blended.
  Each tile's output is weighted by a separable profile that is 0 on the outer quarter of the
  shared band, rises along a raised cosine over its middle half, and is 1 elsewhere, including on
  the image border.
  Opposite profiles sum to 1 across an overlap, and the result is divided by the summed weights,
  so the blend is a smooth convex mix: no step anywhere. ``tile`` is the side of what goes
  through the model (context included), so memory follows ``tile`` alone.
* **Size requirements.** Tiles are sized to a multiple of the model's ``multiple_of``; what still
  falls short (small images, ``minimum``, ``square``) is padded by reflection (then replicated
  where reflection cannot reach) and cropped from the output, as spandrel does.
* **Batched.** Tiles share one shape, so several go through the model in one forward pass, across
  the images of a batch too.
* **Progress and cancel.** ``progress(done_tiles, total_tiles)`` after every pass; ``cancel`` is
  checked before every pass and stops the job with :class:`~enhance.errors.Cancelled`, its memory
  released.
* **On device.** The image is sliced on its device; no tile ever goes through the host.
* **Out of memory.** The whole job restarts at half the tile size, down to ``min_tile``; then a
  :class:`MemoryError` says what to do. Never a half-written or black result.
* **NaN/Inf.** In half precision a tile whose output is not finite (fp16 overflow) is rerun with
  the ``fallback`` model (fp32), and ``warn`` is called once per image. Output that is not finite
  in fp32 (corrupt weights: NaN, inf, or so large that they overflow) raises
  :class:`NonFiniteOutput`; it is never clamped into a black or white image.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..context import is_cancelled
from ..devices import available_memory, is_out_of_memory, release_memory

if TYPE_CHECKING:
    import torch

    from ..context import CancelLike, Progress

__all__ = [
    "TileStats",
    "SizeRequirementsLike",
    "NonFiniteOutput",
    "CPU_PASS_BUDGET",
    "tiled_upscale",
    "estimate_bytes_per_pixel",
    "auto_tile",
]

log = logging.getLogger("enhance")

Model = Callable[["torch.Tensor"], "torch.Tensor"]


#: the most memory one forward pass may take on CPU with ``tile: auto`` (what is free may be far
#: more). A whole 2048x2048 pass of realesr-animevideov3 holds ~1 GB per activation (64 channels
#: of fp32): with this cap such an image runs in ~1024 px tiles (a few % more pixels to compute
#: for the context) and the peak of a large image no longer grows with the image. Images that fit
#: (512x512 needs ~0.25 GB) still run whole, without seams.
CPU_PASS_BUDGET = 1 << 30


class NonFiniteOutput(FloatingPointError):
    """The model's output is not finite (NaN/Inf) in fp32 (or in half precision with no fp32
    ``fallback``): its weights are likely corrupt."""


class SizeRequirementsLike(Protocol):
    """What a model needs of its input size (spandrel's ``SizeRequirements`` fits)."""

    minimum: int
    multiple_of: int
    square: bool


@dataclass
class _NoRequirements:
    minimum: int = 0
    multiple_of: int = 1
    square: bool = False


@dataclass
class TileStats:
    """What :func:`tiled_upscale` did (filled in when passed).

    Attributes:
        tile: tile side in input pixels (0: the whole image in one pass).
        overlap: context around each tile, input pixels (neighbours share half of it).
        batch: tiles per forward pass.
        tiles: forward-pass tiles in the final (successful) attempt.
        oom_retries: how many times the tile size was halved after running out of memory.
        fp32_reruns: tiles rerun in fp32 because their half-precision output was not finite.
    """

    tile: int = 0
    overlap: int = 0
    batch: int = 1
    tiles: int = 0
    oom_retries: int = 0
    fp32_reruns: int = 0


def _padding(w: int, h: int, req: SizeRequirementsLike) -> tuple[int, int]:
    """(pad_w, pad_h) that make a ``w``x``h`` input satisfy ``req``."""

    def up(v: int, m: int) -> int:
        return -(-v // m) * m

    pw, ph = up(max(req.minimum, w), req.multiple_of), up(max(req.minimum, h), req.multiple_of)
    if req.square:
        pw = ph = max(pw, ph)
    return pw - w, ph - h


def _pad(x: torch.Tensor, pad_w: int, pad_h: int) -> torch.Tensor:
    """Pad right/bottom by reflection (no border artefacts), replicating beyond reflection's reach."""
    import torch.nn.functional as F

    if not (pad_w or pad_h):
        return x
    h, w = x.shape[-2:]
    rw, rh = min(pad_w, w - 1), min(pad_h, h - 1)
    if rw or rh:
        x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if pad_w > rw or pad_h > rh:
        x = F.pad(x, (0, pad_w - rw, 0, pad_h - rh), mode="replicate")
    return x


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: every tile full-sized, overlaps spread evenly, each >= overlap."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _fit(length: int, tile: int, overlap: int, multiple: int) -> int:
    """The smallest tile (a multiple of ``multiple``, at most ``tile``) that covers ``length`` with
    as few tiles as ``tile`` itself would need: 512 px in 256 px tiles with 32 overlap takes three
    tiles either way, but 192 px ones compute 44% fewer pixels than 256 px ones."""
    if length <= tile:
        return length
    count = math.ceil((length - overlap) / (tile - overlap))
    need = math.ceil((length + (count - 1) * overlap) / count)
    fitted = min(-(-need // multiple) * multiple, tile)
    return fitted if fitted >= 2 * overlap else tile


def _profile(n: int, scale: int, overlap: int, left: bool, right: bool, *, device: torch.device) -> torch.Tensor:
    """Blend weights of one tile along one axis (``n`` output pixels): ramps on sides with a neighbour."""
    import torch

    weight = torch.ones(n, device=device, dtype=torch.float32)
    if overlap <= 0:
        return weight
    margin = overlap // 4 * scale
    ramp_len = max(overlap * scale - 2 * margin, 1)
    d = torch.arange(n, device=device, dtype=torch.float32) + 0.5
    ramp = ((d - margin) / ramp_len).clamp_(0.0, 1.0)
    ramp = 0.5 - 0.5 * torch.cos(math.pi * ramp)
    if left:
        weight = weight * ramp
    if right:
        weight = weight * ramp.flip(0)
    return weight


@contextlib.contextmanager
def _true_fp32(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Run cuDNN convolutions in IEEE fp32 (not TF32, torch's default for them) when fp32 is asked for.

    fp32 is chosen for exactness (16-bit sources, parity, the overflow rerun); TF32 keeps only 10
    mantissa bits, no better than fp16.
    """
    import torch

    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        old = conv.fp32_precision
        conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            conv.fp32_precision = old
    else:
        old_flag = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32 = old_flag


def estimate_bytes_per_pixel(
    model: Model,
    channels: int,
    *,
    device: torch.device | str,
    dtype: torch.dtype,
    size_requirements: SizeRequirementsLike | None = None,
    probe: int = 96,
) -> float:
    """Peak memory per input pixel of one forward pass, from a small probe run.

    On CUDA it is measured (peak allocated during the probe). On CPU, where allocations are not
    tracked, it is three times the largest activation any module produces plus the input and
    output: conservative on purpose, since running out of RAM on Linux may kill the process
    instead of raising.
    """
    import torch

    device = torch.device(device)
    req = size_requirements or _NoRequirements()
    pad_w, pad_h = _padding(probe, probe, req)
    side_w, side_h = probe + pad_w, probe + pad_h
    x = torch.rand(1, channels, side_h, side_w, device=device, dtype=dtype)
    pixels = side_w * side_h
    try:
        return _probe(model, x, pixels, device)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
    release_memory(device)
    raise MemoryError(
        f"out of memory on {device} while measuring the model on a {side_w}x{side_h} tile: free memory on the "
        "device (other programs), or run on another device (--device cpu)"
    )


def _probe(model: Model, x: torch.Tensor, pixels: int, device: torch.device) -> float:
    import torch

    with torch.no_grad():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            y = model(x)
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) - base
            return max(peak, y.numel() * y.element_size()) / pixels
        largest = 0

        def hook(_module: object, _inputs: object, output: object) -> None:
            nonlocal largest
            if isinstance(output, torch.Tensor):
                largest = max(largest, output.numel() * output.element_size())

        handles = []
        modules = getattr(model, "modules", None)
        if callable(modules):
            handles = [m.register_forward_hook(hook) for m in modules()]
        try:
            y = model(x)
        finally:
            for h in handles:
                h.remove()
        io = x.numel() * x.element_size() + y.numel() * y.element_size()
        return (3 * max(largest, y.numel() * y.element_size()) + io) / pixels


def _round_tile(tile: int, multiple: int) -> int:
    step = math.lcm(multiple, 8) if tile >= 64 else multiple
    return max(tile // step * step, multiple)


def auto_tile(
    height: int,
    width: int,
    *,
    bytes_per_pixel: float,
    budget: int,
    multiple_of: int = 1,
    min_tile: int = 32,
) -> int:
    """The tile side for an image of ``height`` x ``width`` under a memory ``budget`` (bytes).

    0 (the whole image in one pass: no seams at all) when it fits, else the largest square tile
    that fits. A larger tile beats a batch of smaller ones (less overlap to compute twice), so
    batching is for a fixed ``tile`` (see :func:`tiled_upscale`).
    """
    fits = max(int(budget / max(bytes_per_pixel, 1.0)), 0)
    if height * width <= fits:
        return 0
    side = _round_tile(math.isqrt(fits), multiple_of)
    return max(min(side, max(height, width)), min_tile)


def _needs_estimate(tile: object, batch: object, device: torch.device) -> bool:
    """Whether the memory estimate is needed: for an ``auto`` tile, or an ``auto`` batch of tiles on CUDA."""
    return tile == "auto" or (batch == "auto" and tile not in (0, None) and device.type == "cuda")


def tiled_upscale(
    x: torch.Tensor,
    model: Model,
    scale: int,
    *,
    tile: int | Literal["auto"] | None = "auto",
    overlap: int = 32,
    batch: int | Literal["auto"] = "auto",
    size_requirements: SizeRequirementsLike | None = None,
    dtype: torch.dtype | None = None,
    fallback: Model | None = None,
    channels_last: bool = False,
    min_tile: int = 32,
    bytes_per_pixel: float | None = None,
    warn: Callable[[str], None] | None = None,
    stats: TileStats | None = None,
    progress: Progress | None = None,
    cancel: CancelLike | None = None,
) -> torch.Tensor:
    """Upscale ``x`` with ``model`` tile by tile and blend the tiles without seams.

    Args:
        x: ``[C,H,W]`` or ``[N,C,H,W]`` float in [0,1], on the device the model runs on. The
            tiles of all N images share forward passes (``batch`` tiles each); an image's result
            does not depend on the others' (equal up to float rounding of a batched pass).
        model: maps ``[B,C,h,w]`` (in ``dtype``) to ``[B,C',h*scale,w*scale]``, unclamped.
        scale: the model's upscale factor.
        tile: tile side in input pixels; ``"auto"`` picks it from free memory (the whole image
            when it fits); ``0``/``None`` runs the whole image in one pass (tiling still takes
            over if that runs out of memory).
        overlap: pixels of context around each tile (at most a quarter of the tile); tiles also
            share half of it, where they are blended.
        batch: tiles per forward pass; ``"auto"``: as many as fit in memory on CUDA, 1 on CPU
            (oneDNN already spreads one pass over every core).
        size_requirements: the model's input size needs (``minimum``, ``multiple_of``, ``square``).
        dtype: what the model computes in (default ``x.dtype``); the output is always float32.
        fallback: a float32 model to rerun tiles whose half-precision output is NaN/Inf.
        channels_last: feed the model NHWC tensors (faster convolutions on tensor cores).
        min_tile: smallest tile tried after out-of-memory errors.
        bytes_per_pixel: memory a pass needs per input pixel (estimated when needed and not given).
        warn: called once, with a message for the user, when tiles are rerun in fp32.
        stats: filled with what happened (:class:`TileStats`).
        progress: called as ``progress(done_tiles, total_tiles)`` after every forward pass (the
            count starts again if an out-of-memory error restarts the job with smaller tiles).
        cancel: a ``threading.Event`` or a callable returning True, checked before every forward
            pass: the job stops, frees what it allocated and raises :class:`~enhance.errors.Cancelled`.

    Returns:
        ``[C',H*scale,W*scale]`` (or ``[N,...]``) float32 in [0,1] on ``x``'s device.

    Raises:
        MemoryError: out of memory even at ``min_tile``.
        NonFiniteOutput: output not finite in fp32, or in half precision with no ``fallback``.
        Cancelled: ``cancel`` asked to stop.
    """
    if x.ndim not in (3, 4):
        raise ValueError(f"expected [C,H,W] or [N,C,H,W], got shape {tuple(x.shape)}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    stats = stats if stats is not None else TileStats()
    req = size_requirements or _NoRequirements()
    dtype = dtype or x.dtype
    images = x[None] if x.ndim == 3 else x
    if bytes_per_pixel is None and _needs_estimate(tile, batch, images.device):
        bytes_per_pixel = estimate_bytes_per_pixel(
            model, images.shape[1], device=images.device, dtype=dtype, size_requirements=req
        )
    job = _Job(model, scale, req, dtype, fallback, channels_last, warn, stats, progress, cancel)
    out = job.run(images, tile, overlap, batch, min_tile, bytes_per_pixel)
    return out[0] if x.ndim == 3 else out


@dataclass
class _Job:
    model: Model
    scale: int
    req: SizeRequirementsLike
    dtype: torch.dtype
    fallback: Model | None
    channels_last: bool
    warn: Callable[[str], None] | None
    stats: TileStats
    progress: Progress | None = None
    cancel: CancelLike | None = None
    warned: bool = False

    def run(
        self,
        images: torch.Tensor,
        tile: int | str | None,
        overlap: int,
        batch: int | str,
        min_tile: int,
        bytes_per_pixel: float | None,
    ) -> torch.Tensor:
        n, _, h, w = images.shape
        cuda = images.device.type == "cuda"
        side = 0 if tile in (None, 0) else tile
        if not _needs_estimate(side, batch, images.device):
            batch = 1 if batch == "auto" else batch
        else:
            assert bytes_per_pixel is not None
            out_bytes = n * 4 * 4 * h * w * self.scale * self.scale  # float32 outputs + weights, 4 channels worst case
            fraction = 0.8 if cuda else 0.5
            budget = int(available_memory(images.device) * fraction) - out_bytes
            if not cuda:  # tiles, not the image, bound what a pass holds in RAM
                budget = min(budget, CPU_PASS_BUDGET)
            auto_side = auto_tile(
                h,
                w,
                bytes_per_pixel=bytes_per_pixel,
                budget=budget,
                multiple_of=self.req.multiple_of,
                min_tile=min_tile,
            )
            if side == "auto":
                side = auto_side
            if batch == "auto":
                fits = max(int(budget / max(bytes_per_pixel, 1.0)), 1)
                per_pass = int(side) ** 2 if side else h * w
                batch = max(fits // max(per_pass, 1), 1) if cuda else 1
        side, batch = int(side), max(int(batch), 1)
        while True:
            try:
                return self._attempt(images, side, overlap, batch)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
            release_memory(images.device)
            if batch > 1:  # fewer tiles per pass before smaller tiles: smaller tiles cost more overlap
                batch = max(batch // 2, 1)
                log.info("out of memory with %d tiles per pass; retrying with %d", batch * 2, batch)
                self.stats.oom_retries += 1
                continue
            current = min(side, max(h, w)) if side else max(h, w)  # halving a tile larger than the image repeats it
            floor = -(-min_tile // self.req.multiple_of) * self.req.multiple_of
            smaller = max(_round_tile(current // 2, self.req.multiple_of), floor)
            if smaller >= current:
                raise MemoryError(
                    f"out of memory on {images.device} even with {current}px tiles: close other programs using "
                    "the device, use a smaller model, or run on another device (--device cpu)"
                )
            log.info(
                "out of memory with %s; retrying with %dpx tiles",
                f"{side}px tiles" if side else "the whole image",
                smaller,
            )
            self.stats.oom_retries += 1
            side = smaller

    def _stop(self, device: torch.device) -> None:
        """Raise Cancelled once the memory this attempt held is released (the caller drops its
        references first: the traceback keeps its frame alive)."""
        from ..errors import Cancelled

        release_memory(device)
        raise Cancelled("upscale was cancelled by the caller")

    def _attempt(self, images: torch.Tensor, side: int, overlap: int, batch: int) -> torch.Tensor:
        import torch

        n, _, h, w = images.shape
        s = self.scale
        stats = self.stats
        dev = images.device
        if side == 0 or (side >= h and side >= w):
            stats.tile, stats.overlap, stats.batch, stats.tiles = 0, 0, min(batch, n), n
            parts: list[torch.Tensor] = []
            for start in range(0, n, batch):
                if is_cancelled(self.cancel):
                    parts.clear()
                    self._stop(dev)
                parts.append(self._forward(images[start : start + batch]))
                self._report(min(start + batch, n), n)
            return parts[0] if len(parts) == 1 else torch.cat(parts)  # no copy of a lone (possibly 8K) result
        # Every core runs with up to ``ctx`` pixels of context around it, cropped away afterwards, so
        # each output pixel saw at least ``ctx`` pixels beyond its tile's cut; neighbouring cores
        # also overlap by ``ov`` = half of that, where they are blended.
        ctx = min(overlap, side // 4)
        ov = ctx // 2
        core = side - 2 * ctx
        th, tw = _fit(h, core, ov, self.req.multiple_of), _fit(w, core, ov, self.req.multiple_of)
        ys, xs = _starts(h, th, ov), _starts(w, tw, ov)
        eh, ew = min(th + 2 * ctx, h), min(tw + 2 * ctx, w)  # what goes through the model, every tile alike
        wy0 = {y: min(max(y - ctx, 0), h - eh) for y in ys}
        wx0 = {x: min(max(x - ctx, 0), w - ew) for x in xs}
        stats.tile, stats.overlap, stats.batch, stats.tiles = side, ctx, batch, n * len(ys) * len(xs)
        py = {y: _profile(th * s, s, ov, y > 0, y + th < h, device=dev) for y in ys}
        px = {x: _profile(tw * s, s, ov, x > 0, x + tw < w, device=dev) for x in xs}
        wy = torch.zeros(h * s, device=dev)
        wx = torch.zeros(w * s, device=dev)
        for y in ys:
            wy[y * s : (y + th) * s] += py[y]
        for x in xs:
            wx[x * s : (x + tw) * s] += px[x]
        out: torch.Tensor | None = None
        origins = [(i, y, x) for i in range(n) for y in ys for x in xs]
        for start in range(0, len(origins), batch):
            if is_cancelled(self.cancel):
                out = None  # the partial result goes before the error: the traceback keeps this frame
                self._stop(dev)
            chunk = origins[start : start + batch]
            tiles = torch.cat([images[i : i + 1, :, wy0[y] : wy0[y] + eh, wx0[x] : wx0[x] + ew] for i, y, x in chunk])
            result = self._forward(tiles)
            if out is None:
                out = torch.zeros(n, result.shape[1], h * s, w * s, device=dev, dtype=torch.float32)
            for k, (i, y, x) in enumerate(chunk):
                oy, ox = (y - wy0[y]) * s, (x - wx0[x]) * s
                region = out[i, :, y * s : (y + th) * s, x * s : (x + tw) * s]
                region.addcmul_(result[k, :, oy : oy + th * s, ox : ox + tw * s], py[y][:, None] * px[x][None, :])
            del result, tiles
            self._report(start + len(chunk), len(origins))
        assert out is not None
        out /= wy[:, None] * wx[None, :]
        return out.clamp_(0.0, 1.0)

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """One pass over a batch of equal tiles: pad, run, crop, check finiteness, clamp."""
        import torch

        _, _, h, w = tiles.shape
        s = self.scale
        padded = _pad(tiles, *_padding(w, h, self.req))
        inp = padded.to(self.dtype)
        if self.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _true_fp32(inp.device, self.dtype):
            out = self.model(inp)
        if out.shape[-2:] != (padded.shape[-2] * s, padded.shape[-1] * s):
            raise ValueError(
                f"the model turned a {padded.shape[-1]}x{padded.shape[-2]} input into "
                f"{out.shape[-1]}x{out.shape[-2]}, not x{s}: is scale={s} right for this model?"
            )
        out = out[..., : h * s, : w * s]
        # NaN/Inf survive a sum (in fp64: finite fp32 values cannot overflow it): no full-size mask
        bad = ~torch.isfinite(out.sum(dim=(1, 2, 3), dtype=torch.float64))
        if bool(bad.any()):
            if self.dtype == torch.float32:
                raise NonFiniteOutput("model output is not finite (NaN/inf) in float32: the weights may be corrupt")
            out = self._rerun(padded, out, bad.nonzero().flatten().tolist(), h * s, w * s)
        return out.float().clamp_(0.0, 1.0)

    def _rerun(self, padded: torch.Tensor, out: torch.Tensor, index: Sequence[int], oh: int, ow: int) -> torch.Tensor:
        import torch

        if self.fallback is None:
            raise NonFiniteOutput(
                f"the model produced NaN/Inf in {str(self.dtype).removeprefix('torch.')} (a half-precision "
                "overflow): use precision fp32"
            )
        inp = padded[list(index)].float()
        if self.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _true_fp32(inp.device, torch.float32):
            redo = self.fallback(inp)[..., :oh, :ow]
        if not bool(torch.isfinite(redo.sum(dtype=torch.float64))):
            raise NonFiniteOutput("model output is not finite (NaN/inf), in float32 too: the weights may be corrupt")
        out = out.float()
        out[list(index)] = redo.float()
        self.stats.fp32_reruns += len(index)
        if self.warn is not None and not self.warned:
            self.warned = True
            self.warn(
                f"the model overflowed in {str(self.dtype).removeprefix('torch.')} (NaN/Inf output); the affected "
                "tiles were rerun in fp32"
            )
        return out
