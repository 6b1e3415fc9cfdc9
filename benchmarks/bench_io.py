"""Encode/decode speed and file size of enhance.io at a 4K output size, per format and option.

A Kodak photo is upscaled (bicubic) to 3840x2160 so the content is photo-like at the size enhance
writes. Each case is timed ``--repeat`` times; the median is printed as a Markdown table row.

    uv run python benchmarks/bench_io.py [--image ../shared/data/kodak24/kodim23.png] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from enhance.image import Raster
from enhance.io import decode, encode

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("PNG 8-bit, compress_level 1", ".png", "u8", {"compress_level": 1}),
    ("PNG 8-bit, compress_level 4 (default)", ".png", "u8", {}),
    ("PNG 8-bit, compress_level 6 (Pillow's default)", ".png", "u8", {"compress_level": 6}),
    ("PNG 16-bit (OpenCV + chunk splice)", ".png", "u16", {}),
    ("JPEG q95 4:4:4", ".jpg", "u8", {"quality": 95}),
    ("WebP q90", ".webp", "u8", {"quality": 90}),
    ("WebP lossless", ".webp", "u8", {"lossless": True}),
    ("TIFF 8-bit deflate", ".tif", "u8", {}),
    ("TIFF 16-bit deflate", ".tif", "u16", {}),
]


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
    args = parser.parse_args()

    small = decode(args.image).array
    u8 = cv2.resize(small, (3840, 2160), interpolation=cv2.INTER_CUBIC)
    u16 = cv2.resize(small.astype(np.float32) * 257, (3840, 2160), interpolation=cv2.INTER_CUBIC)
    u16 = np.clip(np.rint(u16), 0, 65535).astype(np.uint16)
    arrays = {"u8": u8, "u16": u16}
    print(f"image: {args.image.name} upscaled to 3840x2160, median of {args.repeat}")
    print("| case | encode s | decode s | size MB |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for label, suffix, kind, options in CASES:
            path = Path(folder) / f"out{suffix}"
            raster = Raster(arrays[kind])
            enc = timed(lambda: encode(raster, path, **options), args.repeat)  # noqa: B023
            dec = timed(lambda: decode(path), args.repeat)  # noqa: B023
            print(f"| {label} | {enc:.2f} | {dec:.2f} | {path.stat().st_size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
