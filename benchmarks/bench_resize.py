"""Time ``enhance.ops.resize`` against Pillow and OpenCV on the same image, in one run.

Two cases: downscale 4096² -> 2048² and upscale 2048² -> 4096² (``--size`` changes 4096), RGB.
enhance works on a float32 tensor already on ``--device`` (the pipeline's form); Pillow and OpenCV on
the uint8 HxWx3 array they would be given. The counterparts are the nearest each library has, not
always the same filter: Pillow BOX/LANCZOS/BICUBIC are antialiased like ours; OpenCV INTER_CUBIC
and INTER_LANCZOS4 are not antialiased when downscaling (fixed 4x4 / 8x8 taps), so they do less
work and alias. Prints a markdown table (median of ``--repeat`` runs after a warm-up).

    uv run python benchmarks/bench_resize.py --device cpu
    uv run python benchmarks/bench_resize.py --device cuda --size 8192
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from machine import describe  # benchmarks/machine.py

#: our method -> (Pillow filter name, OpenCV interpolation name)
COUNTERPARTS = {
    "area": ("BOX", "INTER_AREA"),
    "lanczos": ("LANCZOS", "INTER_LANCZOS4"),
    "bicubic": ("BICUBIC", "INTER_CUBIC"),
    "matlab-bicubic": (None, None),
}


def _median_seconds(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--size", type=int, default=4096, help="the large side (default 4096)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--linear-light", action="store_true", help="time enhance with linear_light=True")
    args = parser.parse_args()

    import cv2
    import numpy as np
    import PIL
    import PIL.Image
    import torch

    from enhance.devices import resolve_device
    from enhance.ops.resampling import METHODS, resize

    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    big, small = args.size, args.size // 2
    rng = np.random.default_rng(0)
    # smooth gradients plus noise: content does not change the work, only keeps values realistic
    ramp = np.linspace(0, 200, big, dtype=np.float32)
    array = (ramp[None, :, None] * 0.5 + ramp[:, None, None] * 0.25 + rng.normal(0, 12, (big, big, 3))).clip(0, 255)
    arrays = {"down": array.astype(np.uint8)}
    arrays["up"] = np.ascontiguousarray(arrays["down"][::2, ::2])
    cases = {"down": small, "up": big}

    rows = []
    for method in METHODS:
        pil_name, cv_name = COUNTERPARTS[method]
        row = [method]
        for case, n_out in cases.items():
            x = torch.from_numpy(arrays[case]).to(device).permute(2, 0, 1).float().div_(255).contiguous()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            ours = _median_seconds(
                lambda x=x, n=n_out, m=method: resize(x, (n, n), m, linear_light=args.linear_light), args.repeat, sync
            )
            cell = f"{ours * 1000:.0f}"
            if device.type == "cuda":
                cell += f" ({torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB)"
            row.append(cell)
            pil_image = PIL.Image.fromarray(arrays[case])
            if pil_name:
                flt = getattr(PIL.Image.Resampling, pil_name)
                pil = _median_seconds(lambda im=pil_image, n=n_out, f=flt: im.resize((n, n), f), args.repeat, sync)
                row.append(f"{pil * 1000:.0f} ({pil_name})")
            else:
                row.append("-")
            if cv_name:
                inter = getattr(cv2, cv_name)
                cv = _median_seconds(
                    lambda a=arrays[case], n=n_out, i=inter: cv2.resize(a, (n, n), interpolation=i), args.repeat, sync
                )
                row.append(f"{cv * 1000:.0f} ({cv_name})")
            else:
                row.append("-")
        rows.append(row)

    print(
        f"{describe(str(device))}; Pillow {PIL.__version__}, OpenCV {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), enhance on {device}"
        f"{', linear light' if args.linear_light else ''}; median of {args.repeat}, milliseconds\n"
    )
    down, up = f"{big}²→{small}²", f"{small}²→{big}²"
    header = ["method", f"{down} enhance", f"{down} Pillow", f"{down} OpenCV"]
    header += [f"{up} enhance", f"{up} Pillow", f"{up} OpenCV"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
