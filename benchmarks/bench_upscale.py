"""Benchmark: the ``upscale`` stage vs upstream ``RealESRGANer``, same weights, image and device.

Each engine runs in its own child process (clean memory high-water marks, no shared warm-up),
from a host uint8 image to a host uint8 image, which is the work a batch run does per file:

* ours: upload (``to_image``) -> ``Upscale.process`` (tiles, fp16/bf16, channels_last, resize to
  the target on the device) -> download (``from_image``);
* upstream: ``RealESRGANer.enhance(bgr, outscale=...)`` (numpy in, numpy out; cv2 Lanczos resize).

Prints a markdown table (images/s, seconds per image, peak memory) and the ratio. Needs no uv
environment: from the repository root, ``PYTHONPATH=. python3 benchmarks/bench_upscale.py``.

``--mode cli`` (the acceptance of the CPU path) times whole processes instead: ``enhance run``
with a pipeline of the ``upscale`` stage alone, against upstream's own folder loop (one
``RealESRGANer``, then ``cv2.imread`` -> ``enhance`` -> ``cv2.imwrite`` per file, as
``inference_realesrgan.py`` does it), each on a folder of 1 and of N images. The marginal time per
image, (wall of N - wall of 1) / (N - 1), leaves out what a run pays once (imports, model load)
and keeps what every image costs (read, compute, write). Rounds alternate the four runs.

Examples::

    PYTHONPATH=. python3 benchmarks/bench_upscale.py --mode cli --device cpu --size 512 --images 4 --rounds 3
    PYTHONPATH=. python3 benchmarks/bench_upscale.py --device cpu --size 512 --repeat 3
    PYTHONPATH=. python3 benchmarks/bench_upscale.py --device cuda --size 2048 --outscale 2 \\
        --precision fp16 --repeat 10
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
NEEDED = {  # module -> pip distribution
    "numpy": "numpy",
    "torch": "torch",
    "torchvision": "torchvision",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "pydantic": "pydantic",
    "yaml": "pyyaml",
    "safetensors": "safetensors",
    "einops": "einops",
    "typing_extensions": "typing-extensions",
    "spandrel": "spandrel",
    "scipy": "scipy",
    "tqdm": "tqdm",
    "requests": "requests",
    "basicsr": "basicsr",
    "realesrgan": "realesrgan",
}


def default_weights() -> Path | None:
    shared = os.environ.get("ENHANCE_SHARED")
    for base in [Path(shared)] if shared else [ROOT / "shared", ROOT.parent / "shared"]:
        candidate = base / "weights" / "realesr-animevideov3.pth"
        if candidate.is_file():
            return candidate
    return None


def preflight() -> None:
    sys.path.insert(0, str(ROOT))
    missing = []
    for module, dist in NEEDED.items():
        try:
            if module in ("basicsr", "realesrgan"):
                from enhance.compat import import_reference

                import_reference(module)
            else:
                importlib.import_module(module)
        except Exception as exc:  # any import failure makes the run meaningless: report them all
            missing.append(f"{module} ({dist}): {type(exc).__name__}: {exc}")
    if missing:
        print("bench_upscale: cannot run, missing or broken packages:\n  " + "\n  ".join(missing), file=sys.stderr)
        print("install them (e.g. pip install --no-deps <wheels>) and run again", file=sys.stderr)
        sys.exit(2)


def make_image(size: int, source: Path | None):
    """A ``size`` x ``size`` RGB uint8 photo: a Kodak image mirrored to size, or a synthetic one."""
    import numpy as np

    if source is not None and source.is_file():
        from PIL import Image

        photo = np.asarray(Image.open(source).convert("RGB"))
        grow = ((0, max(size - photo.shape[0], 0)), (0, max(size - photo.shape[1], 0)), (0, 0))
        return np.ascontiguousarray(np.pad(photo, grow, mode="symmetric")[:size, :size])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([yy, xx, (xx + yy) / 2], axis=-1) * 200 + rng.normal(0, 12, (size, size, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def child(args: argparse.Namespace) -> dict:
    """Time one engine in this process and return its figures."""
    import resource

    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark  # same setting for both engines
    device = torch.device(args.device)
    image = make_image(args.size, Path(args.image) if args.image else None)
    cuda = device.type == "cuda"

    if args.engine == "ours":
        from enhance.context import RunContext
        from enhance.image import Metadata, Raster, from_image, to_image
        from enhance.stages.upscale import Upscale

        params = {
            "model": str(args.weights), "tile": args.tile if args.tile == "auto" else int(args.tile),
            "tile_overlap": args.overlap, "batch": args.batch if args.batch == "auto" else int(args.batch),
            "precision": args.precision, "channels_last": not args.no_channels_last, "compile": args.compile,
        }  # fmt: skip
        if args.outscale is not None:
            params["scale"] = args.outscale
        stage = Upscale(**params)
        ctx = RunContext(device=device)
        stage.ensure_setup(ctx)

        def run_once():
            ctx.results.clear()
            up = to_image(Raster(image, Metadata()), device)
            return from_image(stage.process(up, ctx)).array

        label = (
            f"enhance upscale (tile {args.tile}, {{dtype}}, channels_last {not args.no_channels_last}, "
            f"compile {args.compile})"
        )
    else:
        from enhance.compat import import_reference
        from enhance.models.load import read_state_dict
        from enhance.models.reference import build_reference_net

        realesrgan = import_reference("realesrgan")
        net, scale = build_reference_net(read_state_dict(args.weights), str(args.weights))
        half = cuda and args.precision in ("auto", "fp16")
        upsampler = realesrgan.RealESRGANer(
            scale=scale, model_path=str(args.weights), model=net, tile=args.ref_tile, tile_pad=10, pre_pad=0,
            half=half, device=device,
        )  # fmt: skip
        bgr = np.ascontiguousarray(image[:, :, ::-1])

        def run_once():
            out, _ = upsampler.enhance(bgr, outscale=args.outscale)
            return out

        label = f"upstream RealESRGANer (tile {args.ref_tile}, {'fp16' if half else 'fp32'})"

    out = run_once()  # warm-up: cuDNN autotuning, lazy loads
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = run_once()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    result = {
        "engine": args.engine,
        "label": label,
        "seconds": times,
        "median_s": statistics.median(times),
        "output": list(out.shape),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if cuda:
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["gpu"] = torch.cuda.get_device_name(device)
    if args.engine == "ours":
        result["stage"] = ctx.results.get("upscale", {})
        result["label"] = label.format(dtype=result["stage"].get("dtype", args.precision))
    return result


CLI_PIPELINE = """pipelines:
  bench-upscale:
    description: the upscale stage alone (bench_upscale.py --mode cli)
    output: {{format: png, bit_depth: 8, dither: false}}
    stages:
      - upscale: {{model: {model}, tile: {tile}, tile_overlap: {overlap}, precision: {precision}}}
"""


def upstream_loop(args: argparse.Namespace) -> None:
    """Upstream's folder loop, as ``inference_realesrgan.py`` runs it: one ``RealESRGANer``, then
    ``cv2.imread`` -> ``enhance`` -> ``cv2.imwrite`` per file (``--_loop IN OUT``)."""
    import cv2
    import torch

    sys.path.insert(0, str(ROOT))
    from enhance.compat import import_reference
    from enhance.models.load import read_state_dict
    from enhance.models.reference import build_reference_net

    if args.threads:
        torch.set_num_threads(args.threads)
    source, target = (Path(p) for p in args.loop)
    device = torch.device(args.device)
    realesrgan = import_reference("realesrgan")
    net, scale = build_reference_net(read_state_dict(args.weights), str(args.weights))
    half = device.type == "cuda" and args.precision in ("auto", "fp16")
    upsampler = realesrgan.RealESRGANer(
        scale=scale, model_path=str(args.weights), model=net, tile=args.ref_tile, tile_pad=10, pre_pad=0,
        half=half, device=device,
    )  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.png")):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        out, _ = upsampler.enhance(img, outscale=args.outscale)
        cv2.imwrite(str(target / path.name), out)


def cli_runs(args: argparse.Namespace) -> None:
    """``--mode cli``: marginal seconds per image of ``enhance run`` and of upstream's loop."""
    import shutil
    import tempfile

    import numpy as np
    from PIL import Image

    n = args.images
    if n < 2:
        sys.exit("bench_upscale: --images must be at least 2 (the marginal time needs two folder sizes)")
    work = Path(tempfile.mkdtemp(prefix="bench-upscale-"))
    photos = sorted(Path(args.image).parent.glob("*.png")) if args.image else []
    folders = {}
    for count in (1, n):
        folder = folders[count] = work / f"in{count}"
        folder.mkdir()
        for i in range(count):  # distinct photos: no decoder cache can favour either side
            array = make_image(args.size, photos[(i + 4) % len(photos)] if photos else None)
            Image.fromarray(np.asarray(array)).save(folder / f"img{i}.png")
    yaml_path = work / "pipelines.yaml"
    yaml_path.write_text(
        CLI_PIPELINE.format(
            model=json.dumps(str(Path(args.weights).resolve())), tile=args.tile, overlap=args.overlap,
            precision=args.precision,
        )
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)

    cpu_times: dict[str, dict[int, list[float]]] = {"ours": {1: [], n: []}, "upstream": {1: [], n: []}}

    def timed(command: list[str], out: Path, name: str, count: int) -> float:
        """Wall seconds of one run; its CPU seconds (user + system, all threads) go to cpu_times:
        on a shared machine CPU time is the steadier reading of how much work a run is."""
        import resource

        shutil.rmtree(out, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            sys.exit(f"bench_upscale: {' '.join(command)} failed")
        cpu_times[name][count].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return wall

    def ours(count: int) -> float:
        out = work / f"ours{count}"
        command = [sys.executable, "-m", "enhance", "run", str(folders[count]), "-o", str(out), "-c", str(yaml_path),
                   "-p", "bench-upscale", "--device", args.device, "-q"]  # fmt: skip
        return timed(command, out, "ours", count)

    def upstream(count: int) -> float:
        out = work / f"upstream{count}"
        command = [sys.executable, str(Path(__file__).resolve()), "--weights", str(args.weights), "--device",
                   args.device, "--ref-tile", str(args.ref_tile), "--precision", args.precision,
                   "--threads", str(args.threads), "--_loop", str(folders[count]), str(out)]  # fmt: skip
        if args.outscale is not None:
            command += ["--outscale", str(args.outscale)]
        return timed(command, out, "upstream", count)

    walls: dict[str, dict[int, list[float]]] = {"ours": {1: [], n: []}, "upstream": {1: [], n: []}}
    engines = {"ours": ours, "upstream": upstream}
    order = args.engines.split(",")
    for r in range(args.rounds):  # the four runs alternate, so a busy neighbour slows both alike
        for count in (1, n):
            for name in order if r % 2 == 0 else order[::-1]:
                walls[name][count].append(engines[name](count))
                print(f"round {r + 1}: {name} {count} image(s): {walls[name][count][-1]:.2f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    marginal = {name: [(big - one) / (n - 1) for one, big in zip(w[1], w[n], strict=True)] for name, w in walls.items()}
    print(f"\nMachine: {describe(args.device)}")
    print(
        f"weights {Path(args.weights).name}; input {args.size}x{args.size} PNG; {n} vs 1 image(s); "
        f"{args.rounds} round(s)\n"
    )
    cpu_marginal = {
        name: [(big - one) / (n - 1) for one, big in zip(c[1], c[n], strict=True)] for name, c in cpu_times.items()
    }
    print(
        "| engine | wall 1 image s (median) | wall N images s (median) | marginal s/image (median) | images/s "
        "| marginal CPU s/image (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    labels = {"ours": "enhance run (upscale stage alone)", "upstream": "upstream loop (RealESRGANer, cv2 read/write)"}
    for name in order:
        m = statistics.median(marginal[name])
        print(
            f"| {labels[name]} | {statistics.median(walls[name][1]):.2f} | {statistics.median(walls[name][n]):.2f} "
            f"| {m:.3f} | {1 / m:.3f} | {statistics.median(cpu_marginal[name]):.3f} |"
        )
    if {"ours", "upstream"} <= set(order):
        per_round = [u / o for u, o in zip(marginal["upstream"], marginal["ours"], strict=True)]
        ratio = statistics.median(marginal["upstream"]) / statistics.median(marginal["ours"])
        print(
            f"\nratio ours/upstream images/s: {ratio:.2f}x (median marginals); per round: "
            + ", ".join(f"{r:.2f}x" for r in per_round)
        )
        cpu_ratio = statistics.median(cpu_marginal["upstream"]) / statistics.median(cpu_marginal["ours"])
        print(f"ratio of marginal CPU seconds per image, upstream/ours: {cpu_ratio:.2f}x")
    print(f"command: PYTHONPATH=. python3 benchmarks/bench_upscale.py {' '.join(sys.argv[1:])}")
    if args.json:
        args.json.write_text(json.dumps({"walls": walls, "marginal": marginal, "cpu": cpu_times}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="cli", choices=["cli", "stage"], help="whole runs or the stage in-process")
    parser.add_argument("--images", type=int, default=4, help="cli mode: images in the larger folder")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (square image)")
    parser.add_argument("--outscale", type=float, default=None, help="final scale (default: the model's own)")
    parser.add_argument("--weights", type=Path, default=default_weights(), help="model file (same for both)")
    parser.add_argument("--image", default=None, help="source photo (default: a Kodak image from ../shared)")
    parser.add_argument("--tile", default="auto", help="our tile: auto, 0 (whole image) or pixels")
    parser.add_argument("--overlap", type=int, default=32, help="our tile overlap")
    parser.add_argument("--batch", default="auto", help="our tiles per forward pass: auto or a number")
    parser.add_argument("--ref-tile", type=int, default=0, help="upstream tile (0 = whole image, its default)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    parser.add_argument("--no-channels-last", action="store_true", help="our engine without channels_last")
    parser.add_argument("--compile", action="store_true", help="our engine with torch.compile (stage mode)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per engine (after one warm-up)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the engines this many times (noisy hosts)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune (both engines)")
    parser.add_argument("--engines", default="upstream,ours", help="which to run, in order")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--_child", dest="engine", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_loop", dest="loop", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.weights is None or not Path(args.weights).is_file():
        parser.error("no model file: pass --weights PATH (e.g. ../shared/weights/realesr-animevideov3.pth)")
    if args.image is None:
        for base in (ROOT / "shared", ROOT.parent / "shared"):
            if (base / "data" / "kodak24" / "kodim05.png").is_file():
                args.image = str(base / "data" / "kodak24" / "kodim05.png")
                break

    if args.engine:  # child mode
        print(json.dumps(child(args)))
        return
    if args.loop:  # upstream's folder loop, in a child process of --mode cli
        upstream_loop(args)
        return

    preflight()
    if args.mode == "cli":
        cli_runs(args)
        return
    argv = sys.argv[1:]  # the child ignores the options that only the parent uses
    engines = args.engines.split(",")
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    for _ in range(args.rounds):  # engines alternate, so a busy neighbour slows both alike
        for engine in engines:
            runs[engine].append(run_child(argv, engine, args.image))
    results = [summarise(rs) for rs in runs.values()]

    mem_key = "peak_cuda_mb" if args.device.startswith("cuda") else "peak_rss_mb"
    mem_name = "peak CUDA alloc (MB)" if mem_key == "peak_cuda_mb" else "peak RSS (MB)"
    print(f"\nMachine: {describe(args.device)}")
    out_h, out_w = results[0]["output"][:2]
    print(
        f"weights {Path(args.weights).name}; input {args.size}x{args.size}; output {out_w}x{out_h}; "
        f"{args.rounds} round(s) x {args.repeat} timed runs per engine, each after 1 warm-up\n"
    )
    print(f"| engine | images/s (median) | s/image median | s/image best | {mem_name} |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['label']} | {1 / r['median_s']:.3f} | {r['median_s']:.3f} | {r['best_s']:.3f} | {r[mem_key]:.0f} |"
        )
    by = {r["engine"]: r for r in results}
    if "ours" in by and "upstream" in by:
        median = by["upstream"]["median_s"] / by["ours"]["median_s"]
        best = by["upstream"]["best_s"] / by["ours"]["best_s"]
        print(f"\nratio ours/upstream images/s: {median:.2f}x (medians), {best:.2f}x (best runs)")
        print(f"our stage: {by['ours'].get('stage')}")
    print(f"command: PYTHONPATH=. python3 benchmarks/bench_upscale.py {' '.join(sys.argv[1:])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def run_child(argv: list[str], engine: str, image: str | None) -> dict:
    """One engine in a fresh interpreter; its JSON figures."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--_child", engine, "--image", image or ""]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        sys.exit(f"bench_upscale: the {engine} run failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    """One engine's rounds merged: median and best over every timed run, the highest memory peak."""
    times = [t for r in runs for t in r["seconds"]]
    merged = {**runs[0], "seconds": times, "median_s": statistics.median(times), "best_s": min(times)}
    for key in ("peak_rss_mb", "peak_cuda_mb"):
        if key in runs[0]:
            merged[key] = max(r[key] for r in runs)
    return merged


if __name__ == "__main__":
    main()
