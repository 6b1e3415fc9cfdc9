"""Deband side by side with ffmpeg's ``deband`` and ``gradfun`` on the same banded frames.

For each frame from ``tests/synthetic.py`` (8-bit bands and posterisation to 32/64 levels, with
a textured region beside the gradient) this measures, for ours (default parameters, then the
default dithered 8-bit write) and for ffmpeg's two filters (default options, 8-bit PNG out):

* the banding index (:mod:`enhance.metrics.banding`) of the 8-bit result, and of the input;
* SSIM of the textured crop, input vs output (Gaussian 11x11, sigma 1.5, on 0-255 values, mean
  over channels: how much of the texture survives);
* CPU time (user + system, all threads) for one frame.

Timing. ffmpeg: ``-benchmark`` reports the process's CPU time; the filter's share is a run with
``-vf FILTER -f null -`` minus the same run with ``-vf null``: decode cancels out, and what
remains is the filter plus the pixel-format conversions it needs (rgb24 to planar and back).
Best of ``--repeat`` runs each. Ours: ``time.process_time()`` around ``deband()`` on the float
image, best of ``--repeat``; the upload (uint8 to float) and the dithered quantize back to uint8,
which every pipeline pays whatever its stages, are timed apart in the last column. On CUDA the
table shows wall milliseconds per frame (synchronised, after a warm-up) instead.

Run from the repository root::

    PYTHONPATH=. python3 benchmarks/bench_deband.py                 # CPU, 1920x1080 and 4096^2
    PYTHONPATH=. python3 benchmarks/bench_deband.py --device cuda   # GPU timing (ffmpeg if present)
    PYTHONPATH=. python3 benchmarks/bench_deband.py --sizes 1920x1080 --patterns linear --threads 1

Needs torch, numpy and pillow; ffmpeg on PATH for the comparison (skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from machine import describe  # benchmarks/machine.py
from PIL import Image as PILImage

from enhance.image import Raster, from_image, to_image
from enhance.metrics.banding import banding_index
from enhance.ops.debanding import deband
from tests.synthetic import banded

CASES = ("banded", "posterized64", "posterized32")
FILTERS = ("deband", "gradfun")


@dataclass
class Row:
    size: str
    pattern: str
    case: str
    before: float
    after: dict[str, float] = field(default_factory=dict)
    ssim: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    io_seconds: float = 0.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two HxWx3 uint8 images: the project's metric (Gaussian 11, sigma 1.5)."""
    from enhance.metrics import ssim as enhance_ssim

    x, y = (torch.from_numpy(np.ascontiguousarray(v)).permute(2, 0, 1).float() / 255 for v in (a, b))
    return enhance_ssim(x, y)


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    return (pixels.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def index_of(array: np.ndarray, device: str) -> float:
    return banding_index(torch.from_numpy(array).permute(2, 0, 1).to(device).float() / 255)


def run_ours(array: np.ndarray, device: str, repeat: int) -> tuple[np.ndarray, float, float]:
    """Our 8-bit result, the best time of the deband op alone (float in, float out), and the best
    time of the conversions around it (upload to float, dithered quantize back to uint8): CPU
    seconds on the CPU, wall seconds on CUDA (synchronised, after a warm-up run)."""
    cuda = device != "cpu"

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    best_op = best_io = float("inf")
    out = array
    for attempt in range(repeat + (1 if cuda else 0)):
        start = clock()
        image = to_image(Raster(array), device)
        uploaded = clock()
        pixels = deband(image.pixels)
        debanded = clock()
        out = from_image(image.replace(pixels=pixels), bit_depth=8, dither=True).array
        written = clock()
        if attempt or not cuda:
            best_op = min(best_op, debanded - uploaded)
            best_io = min(best_io, (uploaded - start) + (written - debanded))
    return out, best_op, best_io


def ffmpeg_cpu(ffmpeg: str, source: Path, vf: str) -> float:
    """CPU seconds (user + system) of one ffmpeg run that filters ``source`` into a null sink."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-benchmark", "-i", str(source), "-vf", vf, "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"utime=([\d.]+)s stime=([\d.]+)s", result.stderr)
    if not match:
        raise RuntimeError(f"no -benchmark line in ffmpeg's output:\n{result.stderr[-500:]}")
    return float(match.group(1)) + float(match.group(2))


def run_ffmpeg(ffmpeg: str, source: Path, work: Path, name: str, repeat: int) -> tuple[np.ndarray, float]:
    target = work / f"{name}.png"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-vf", name, str(target)],
        check=True,
    )
    out = np.array(PILImage.open(target).convert("RGB"))
    filtered = min(ffmpeg_cpu(ffmpeg, source, name) for _ in range(repeat))
    baseline = min(ffmpeg_cpu(ffmpeg, source, "null") for _ in range(repeat))
    return out, max(0.0, filtered - baseline)


def measure(size: tuple[int, int], pattern: str, case: str, args: argparse.Namespace, work: Path) -> Row:
    height, width = size
    frame = banded(case, height, width, pattern=pattern)
    array = to_uint8(frame.image)
    assert frame.texture_box is not None
    top, left, h, w = frame.texture_box
    crop = np.s_[top : top + h, left : left + w]
    row = Row(f"{width}x{height}", pattern, case, index_of(array, args.device))
    out, seconds, row.io_seconds = run_ours(array, args.device, args.repeat)
    outputs = {"ours": (out, seconds)}
    if args.ffmpeg:
        source = work / "in.png"
        PILImage.fromarray(array).save(source, compress_level=1)
        for name in FILTERS:
            outputs[name] = run_ffmpeg(args.ffmpeg, source, work, name, args.repeat)
    for name, (out, seconds) in outputs.items():
        row.after[name] = index_of(out, args.device)
        row.ssim[name] = ssim(array[crop], out[crop])
        row.seconds[name] = seconds
    return row


def table(rows: list[Row], names: list[str], device: str) -> str:
    unit = "CPU s" if device == "cpu" else "ours: GPU ms"
    head = (
        "| frame | case | index before | index after: "
        + " / ".join(names)
        + " | texture SSIM: "
        + " / ".join(names)
        + f" | {unit}: "
        + " / ".join(names if device == "cpu" else ["ours"])
        + " | ours: upload + dithered write |"
    )
    lines = [head, "|" + "---|" * 7]
    for row in rows:
        after = " / ".join(f"{row.after[n]:.3f}" for n in names)
        similar = " / ".join(f"{row.ssim[n]:.4f}" for n in names)
        if device == "cpu":
            timing = " / ".join(f"{row.seconds[n]:.2f}" for n in names)
            io = f"{row.io_seconds:.2f}"
        else:
            timing = f"{row.seconds['ours'] * 1000:.1f}"
            io = f"{row.io_seconds * 1000:.1f} ms"
        lines.append(
            f"| {row.size} {row.pattern} | {row.case} | {row.before:.3f} | {after} | {similar} | {timing} | {io} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] for our deband (ffmpeg is CPU)")
    parser.add_argument("--sizes", default="1920x1080,4096x4096", help="comma-separated WIDTHxHEIGHT")
    parser.add_argument("--patterns", default="linear,vignette", help="comma-separated: linear, vignette")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated synthetic cases")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method; the best counts")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-ffmpeg", action="store_true", help="skip the ffmpeg comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.ffmpeg = None if args.no_ffmpeg else shutil.which("ffmpeg")
    sizes = [tuple(int(v) for v in s.lower().split("x"))[::-1] for s in args.sizes.split(",")]
    names = ["ours", *(FILTERS if args.ffmpeg else ())]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_deband_") as folder:
        for size in sizes:
            for pattern in args.patterns.split(","):
                for case in args.cases.split(","):
                    rows.append(measure(size, pattern, case, args, Path(folder)))  # type: ignore[arg-type]
                    print(f"done {size} {pattern} {case}", file=sys.stderr, flush=True)
    version = "no ffmpeg"
    if args.ffmpeg:
        version = subprocess.run([args.ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"\nMachine: {describe(args.device)}; {version}")
    print(f"Command: PYTHONPATH=. python3 benchmarks/bench_deband.py {' '.join(sys.argv[1:])}\n")
    print(table(rows, names, args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
