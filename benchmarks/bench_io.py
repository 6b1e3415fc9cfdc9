"""Encode/decode speed and file size of enhance.io at a 4K output size, per format and option.

A Kodak photo is upscaled (bicubic) to 3840x2160 (or ``--size W H``) so the content is photo-like at
the size enhance writes. Rounds are interleaved (each round times every case once, so a busy moment
hits all cases alike) and the median of ``--repeat`` rounds is printed as a Markdown table row, with
the PSNR of lossy cases against the encoded pixels. ``--only avif,jxl`` keeps the cases whose label
contains one of the words. Cases marked "(alt)" try encoder settings other than enhance's defaults.

    uv run python benchmarks/bench_io.py [--image ../shared/data/kodak24/kodim23.png] [--repeat 3]
        [--size 4096 4096] [--only avif,jxl]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from enhance.image import Raster
from enhance.io import decode, encode, encoding
from enhance.io.pngwrite import WRITER_ENV

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("PNG 8-bit, libvips level 3 AVG (default)", ".png", "u8", {}),
    ("PNG 8-bit, libvips level 1 (alt)", ".png", "u8", {"compress_level": 1}),
    ("PNG 8-bit, libvips level 6 (alt)", ".png", "u8", {"compress_level": 6}),
    ("PNG 8-bit, Pillow level 3 RLE (fallback, alt)", ".png", "u8", {"png_writer": "pillow"}),
    (
        "PNG 8-bit, Pillow level 4 (the earlier default, alt)",
        ".png",
        "u8",
        {"png_writer": "pillow", "compress_level": 4},
    ),
    ("PNG 16-bit (OpenCV level 3 RLE + chunk splice)", ".png", "u16", {}),
    ("JPEG q95 4:4:4", ".jpg", "u8", {"quality": 95}),
    ("WebP q90", ".webp", "u8", {"quality": 90}),
    ("WebP lossless", ".webp", "u8", {"lossless": True}),
    ("TIFF 8-bit deflate", ".tif", "u8", {}),
    ("TIFF 16-bit deflate", ".tif", "u16", {}),
    ("AVIF q90 speed 9 4:4:4 (default)", ".avif", "u8", {}),
    ("AVIF q90 speed 8 (alt)", ".avif", "u8", {"avif_speed": 8}),
    ("AVIF q90 speed 6 (alt, Pillow's default)", ".avif", "u8", {"avif_speed": 6}),
    ("JPEG XL q90 effort 5 (default)", ".jxl", "u8", {}),
    ("JPEG XL q90 effort 4 (alt)", ".jxl", "u8", {"jxl_effort": 4}),
    ("JPEG XL q90 effort 7 (alt, plugin default)", ".jxl", "u8", {"jxl_effort": 7}),
    ("JPEG XL lossless effort 2 (default)", ".jxl", "u8", {"lossless": True}),
    ("JPEG XL lossless effort 1 (alt)", ".jxl", "u8", {"lossless": True, "jxl_effort": 1}),
    ("JPEG XL lossless effort 3 (alt)", ".jxl", "u8", {"lossless": True, "jxl_effort": 3}),
]


def settings(options: dict) -> dict:
    """Set the encoder constants a case asks for (restored after); returns encode()'s options."""
    options = dict(options)
    os.environ[WRITER_ENV] = options.pop("png_writer", "")  # libvips unless a case asks for Pillow
    encoding.AVIF_SPEED = options.pop("avif_speed", DEFAULTS[0])
    effort = options.pop("jxl_effort", None)
    encoding.JXL_EFFORT = dict(DEFAULTS[1])
    if effort is not None:
        encoding.JXL_EFFORT["lossless" if options.get("lossless") else "lossy"] = effort
    return options


DEFAULTS = (encoding.AVIF_SPEED, dict(encoding.JXL_EFFORT))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    peak = 65535.0 if a.dtype == np.uint16 else 255.0
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT.parent / "shared" / "data" / "kodak24" / "kodim23.png")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(3840, 2160), metavar=("W", "H"))
    parser.add_argument("--only", default="", help="comma-separated words; keep cases whose label has one")
    args = parser.parse_args()

    width, height = args.size
    small = decode(args.image).array
    u8 = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    u16 = cv2.resize(small.astype(np.float32) * 257, (width, height), interpolation=cv2.INTER_CUBIC)
    u16 = np.clip(np.rint(u16), 0, 65535).astype(np.uint16)
    arrays = {"u8": u8, "u16": u16}
    words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    cases = [c for c in CASES if not words or any(w in c[0].lower() for w in words)]
    times: dict[str, tuple[list[float], list[float]]] = {c[0]: ([], []) for c in cases}
    results: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            for label, suffix, kind, options in cases:
                path = Path(folder) / f"out{suffix}"
                raster = Raster(arrays[kind])
                kwargs = settings(options)
                t0 = time.perf_counter()
                encode(raster, path, **kwargs)
                times[label][0].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                back = decode(path)
                times[label][1].append(time.perf_counter() - t0)
                results[label] = (path.stat().st_size, psnr(back.array[:, :, :3], arrays[kind][:, :, :3]))
    settings({})
    print(f"image: {args.image.name} upscaled to {width}x{height}, median of {args.repeat} interleaved rounds")
    print("| case | encode s | decode s | size MB | bits/px | PSNR dB |")
    print("|---|---|---|---|---|---|")
    for label, *_ in cases:
        size, quality = results[label]
        enc, dec = (statistics.median(t) for t in times[label])
        shown = "lossless" if quality == float("inf") else f"{quality:.1f}"
        print(f"| {label} | {enc:.2f} | {dec:.2f} | {size / 1e6:.2f} | {size * 8 / (width * height):.2f} | {shown} |")


if __name__ == "__main__":
    main()
