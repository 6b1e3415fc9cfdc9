"""Time ``enhance run`` with the local runner and with ``--engine ray`` on the same CPU-bound work.

The pipeline: the Kodak crops resized to ``--size`` (long side), then x4 with the shared
realesr-animevideov3 model, on the CPU, written as PNG. Each engine runs as the command line
does (a fresh process; for Ray a fresh local instance, its start included), on ``--few`` images
and on all of them, so that the fixed cost per run and the cost per image come apart:
per image = (t_all - t_few) / (all - few), fixed = t_few - few * per image. Prints a markdown
table and the machine line.

    uv run python benchmarks/bench_ray.py                 # 24 Kodak crops at 96 px, and 8 of them
    uv run python benchmarks/bench_ray.py --size 128 --few 4
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="long side the photos are resized to before x4")
    parser.add_argument("--few", type=int, default=8, help="images in the small run")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    photos = sorted((SHARED / "data" / "kodak24").glob("*.png"))
    model = SHARED / "weights" / "realesr-animevideov3.pth"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = work / "pipelines.yaml"
        config.write_text(
            "pipelines:\n  bench:\n    device: cpu\n    stages:\n"
            f"      - resize: {{long_side: {args.size}, method: area}}\n"
            f"      - upscale: {{model: {model}, tile: 0}}\n"
        )
        sets = {}
        for count in (args.few, len(photos)):
            folder = work / f"in{count}"
            folder.mkdir()
            for photo in photos[:count]:
                shutil.copy(photo, folder / photo.name)
            sets[count] = folder
        rows = []
        for engine in args.engines.split(","):
            times = {}
            for count, folder in sets.items():
                out = work / f"out-{engine}-{count}"
                command = [sys.executable, "-m", "enhance", "run", str(folder), "-o", str(out), "-c", str(config)]
                command += ["-p", "bench", "-q", "--engine", engine]
                t0 = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                times[count] = time.perf_counter() - t0
                if done.returncode != 0:
                    raise SystemExit(f"{engine} failed ({done.returncode}): {done.stderr[-2000:]}")
            few, many = args.few, len(photos)
            per_image = (times[many] - times[few]) / (many - few)
            rows.append((engine, times[few], times[many], per_image, times[few] - few * per_image))
    print(f"Machine: {describe()}")
    print(f"Work: Kodak crops resized to {args.size} px long side, x4 realesr-animevideov3 on CPU, PNG out\n")
    print(f"| engine | {args.few} images s | {len(photos)} images s | per image s | fixed per run s |")
    print("|---|---|---|---|---|")
    for engine, t_few, t_many, per_image, fixed in rows:
        print(f"| {engine} | {t_few:.1f} | {t_many:.1f} | {per_image:.2f} | {fixed:.1f} |")


if __name__ == "__main__":
    main()
