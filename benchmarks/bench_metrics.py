"""Time every no-reference metric on one large image (default 4096²), side by side with basicsr.

Run from the repository root::

    PYTHONPATH=. python3 benchmarks/bench_metrics.py --device cuda
    PYTHONPATH=. python3 benchmarks/bench_metrics.py --device cpu --reference-size 2048

The image is a Kodak photo (../shared/data/kodak24, or $ENHANCE_SHARED) enlarged to the size with
bicubic plus mild noise, or a synthetic texture-and-gradient image when the photos are absent.
Each metric is timed after one warm-up run (median of --repeats, device synchronised). The
reference column runs basicsr's numpy NIQE and cv2 PSNR/SSIM on the same arrays (at
--reference-size, as basicsr's NIQE takes tens of seconds at 4096²), next to ours at that size.
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402  (benchmarks/machine.py)

from enhance.devices import resolve_device  # noqa: E402
from enhance.metrics import compute, list_metrics  # noqa: E402


def source_image(size: int) -> tuple[torch.Tensor, str]:
    shared = Path(os.environ.get("ENHANCE_SHARED", ROOT.parent / "shared"))
    photo = shared / "data" / "kodak24" / "kodim05.png"
    generator = torch.Generator().manual_seed(0)
    if photo.is_file():
        from PIL import Image

        with Image.open(photo) as im:
            x = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        what = f"{photo.name} enlarged (bicubic) + noise σ=2/255"
    else:
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 512), torch.linspace(0, 1, 512), indexing="ij")
        texture = 0.5 + 0.25 * torch.sin(80 * xx) * torch.cos(60 * yy) * (xx > 0.5)
        x = torch.stack([texture, 0.3 + 0.4 * yy, texture * 0.8])
        what = "synthetic texture + gradient (photos not found) + noise σ=2/255"
    big = F.interpolate(x[None], size=(size, size), mode="bicubic", align_corners=False)[0]
    big = big + torch.randn(big.shape, generator=generator) * (2 / 255)
    return big.clamp(0, 1), what


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()  # warm-up: lazy imports, kernels, caches
    runs = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-size", type=int, default=None, help="size for the basicsr side (default --size)")
    parser.add_argument("--skip-reference", action="store_true", help="do not run basicsr")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    image, what = source_image(args.size)
    x = image.to(device)
    names = [m.name for m in list_metrics("no-reference") if m.available()]
    missing = [m.name for m in list_metrics("no-reference") if not m.available()]
    print(f"# metrics on {args.size}x{args.size} ({what}), device {device}")
    print(f"# machine: {describe(str(device))}")
    if missing:
        print(f"# not available here (skipped): {', '.join(missing)}")
    print()
    print("| metric | value | ours (s) |")
    print("|---|---:|---:|")
    with torch.no_grad():
        for name in names:
            value = compute([name], x)[name]
            seconds = timed(lambda name=name: compute([name], x), device, args.repeats)
            print(f"| {name} | {value:.4g} | {seconds:.3f} |")
        total = timed(lambda: compute(names, x), device, args.repeats)
    print(f"| **all no-reference ({', '.join(names)})** | | **{total:.3f}** |")

    if args.skip_reference:
        return
    try:
        from enhance.compat import import_reference

        reference = import_reference("basicsr.metrics")
    except Exception as exc:  # the extra is optional
        print(f"\n# basicsr not available ({exc}): no side-by-side")
        return
    size = args.reference_size or args.size
    small = F.interpolate(image[None], size=(size, size), mode="area")[0] if size != args.size else image
    blurred = small + torch.randn(small.shape, generator=torch.Generator().manual_seed(1)) * (5 / 255)
    a8 = (small.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[..., ::-1].copy()  # BGR, as basicsr
    b8 = (blurred.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[..., ::-1].copy()
    xs, xb = small.to(device), blurred.clamp(0, 1).to(device)
    cpu = torch.device("cpu")
    rows = []
    with torch.no_grad():
        if "niqe" in names:
            ours = compute(["niqe"], xs)["niqe"]
            theirs = reference.calculate_niqe(a8, crop_border=0)
            rows.append(
                (
                    "niqe",
                    ours,
                    theirs,
                    timed(lambda: compute(["niqe"], xs), device, 1),
                    timed(lambda: reference.calculate_niqe(a8, crop_border=0), cpu, 1),
                )
            )
        for ours_name, fn in (("psnr_y", reference.calculate_psnr), ("ssim_y", reference.calculate_ssim)):
            ours = compute([ours_name], xb, xs, crop_border=4)[ours_name]
            theirs = fn(b8, a8, crop_border=4, test_y_channel=True)
            rows.append(
                (
                    ours_name,
                    ours,
                    theirs,
                    timed(lambda n=ours_name: compute([n], xb, xs, crop_border=4), device, args.repeats),
                    timed(lambda f=fn: f(b8, a8, crop_border=4, test_y_channel=True), cpu, args.repeats),
                )
            )
    print(f"\n# side by side with basicsr at {size}x{size} (basicsr runs on CPU, numpy/cv2)\n")
    print("| metric | ours | basicsr | ours (s) | basicsr (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, ours, theirs, t_ours, t_theirs in rows:
        print(f"| {name} | {ours:.6f} | {theirs:.6f} | {t_ours:.3f} | {t_theirs:.3f} |")


if __name__ == "__main__":
    main()
