"""Benchmark: a whole folder through a named pipeline, beside the upscale stage alone and upstream's folder loop.

One run, the same N images (made once, written as PNG into a temporary input folder), three
engines, each in its own child process (clean peak-memory figures, no shared warm-up):

* ``pipeline``: :func:`enhance.batch.run_batch` on the folder, the code ``enhance run`` runs
  (decode ahead, compute in order, encode and host scoring behind); its manifest's profile gives
  per-stage seconds, the device's busy fraction and what bound the run. Also run on the first
  image alone (``pipeline-1``), for the marginal time per image: (wall of N - wall of 1) / (N - 1).
* ``upscale``: the pipeline's ``upscale`` stage alone (same parameters) on the images as the
  pipeline hands them to it (the stages before it run untimed): the device's ceiling.
* ``upstream``: Real-ESRGAN's own folder loop as ``inference_realesrgan.py`` does it: ``cv2.imread``
  → ``RealESRGANer.enhance(img, outscale)`` → ``cv2.imwrite``, same weights, same output size.

Engines alternate over ``--rounds`` (the machine may be shared: medians are reported). Prints a
markdown table and, with ``--append``, adds it to BENCHMARKS.md with the machine, date and command.

Examples (from the repository root)::

    uv run python benchmarks/bench_pipeline.py --pipeline anime-4k --device cuda            # 8 x 4096²
    uv run python benchmarks/bench_pipeline.py --size 2048 --count 8 --device cuda
    uv run python benchmarks/bench_pipeline.py --size 512 --count 4 --device cpu --append   # a CPU run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("pipeline", "pipeline-1", "upscale", "upstream")


def shared_weights() -> Path | None:
    shared = os.environ.get("ENHANCE_SHARED")
    for base in [Path(shared)] if shared else [ROOT / "shared", ROOT.parent / "shared"]:
        if (base / "weights").is_dir():
            return base / "weights"
    return None


def make_inputs(folder: Path, size: int, count: int) -> list[Path]:
    """``count`` photos at ``size``², cut from the Kodak set when present (else synthetic), as PNG."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    weights = shared_weights()
    kodak = sorted((weights.parent / "data" / "kodak24").glob("*.png")) if weights else []
    paths = []
    rng = np.random.default_rng(0)
    for i in range(count):
        if kodak:
            im = Image.open(kodak[i % len(kodak)]).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        else:
            yy, xx = np.mgrid[0:size, 0:size] / size
            base = np.stack([yy, xx, (xx + yy) / 2], axis=-1) * 200 + rng.normal(0, 12, (size, size, 3))
            im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        path = folder / f"img{i:03d}.png"
        im.save(path, compress_level=1)
        paths.append(path)
    return paths


def peaks(device: str) -> dict:
    import resource

    import torch

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["peak_device_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def child(args: argparse.Namespace) -> dict:
    """Run one engine in this process; returns its figures."""
    sys.path.insert(0, str(ROOT))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from enhance.pipeline import Pipeline

    inputs = sorted(Path(args.inputs).glob("*.png"))
    pipe = Pipeline.from_yaml(args.config, args.pipeline, overrides=args.set or (), device=args.device)
    base = pipe.setup()  # model load: outside every engine's clock, as for upstream's
    device = str(base.device)
    if args.engine.startswith("pipeline"):
        from enhance.batch import run_batch

        files = inputs[:1] if args.engine == "pipeline-1" else inputs
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_batch(pipe, files, out, jobs=args.jobs)
            wall = time.perf_counter() - start
        failed = [r["error"] for r in result.records if r["status"] == "failed"]
        if failed:
            raise SystemExit(f"pipeline run failed: {failed[0]}")
        profile = result.profile or {}
        return {"wall": wall, "images": len(files), "profile": profile, "device": device, **peaks(device)}

    from enhance.image import from_image, to_image
    from enhance.io import decode

    index = next(i for i, s in enumerate(pipe.stages) if s.name == "upscale")
    stage = pipe.stages[index]
    if args.engine == "upscale":
        prepared = []
        for path in inputs:  # what the pipeline hands the upscale stage, made untimed
            image = to_image(decode(path), base.device)
            ctx = base.for_image(source=image, path=path)
            for before in pipe.stages[:index]:
                image = before.process(image, ctx)
            prepared.append(from_image(image, bit_depth=16))
        stage.process(to_image(prepared[0], base.device), base.for_image())  # warm-up
        from enhance.devices import synchronize

        synchronize(base.device)
        start = time.perf_counter()
        for raster in prepared:
            out = from_image(stage.process(to_image(raster, base.device), base.for_image()))
        synchronize(base.device)
        wall = time.perf_counter() - start
        shape = list(out.array.shape)
        return {"wall": wall, "images": len(prepared), "output": shape, "device": device, **peaks(device)}

    # upstream: RealESRGANer's folder loop, same weights, same final size
    import cv2

    from enhance.compat import import_reference
    from enhance.models.load import read_state_dict
    from enhance.models.reference import build_reference_net

    realesrgan = import_reference("realesrgan")
    model = str(stage.params.model)
    weights = Path(args.weights) if args.weights else Path(os.environ.get("ENHANCE_WEIGHTS", ".")) / f"{model}.pth"
    if Path(model).is_file():
        weights = Path(model)
    net, scale = build_reference_net(read_state_dict(weights), str(weights))
    half = base.device.type == "cuda"
    upsampler = realesrgan.RealESRGANer(
        scale=scale, model_path=str(weights), model=net, tile=args.ref_tile, tile_pad=10, pre_pad=0, half=half,
        device=base.device,
    )  # fmt: skip
    first = cv2.imread(str(inputs[0]), cv2.IMREAD_UNCHANGED)
    outscale = args.out_size / max(first.shape[:2])
    upsampler.enhance(first, outscale=outscale)  # warm-up
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        for path in inputs:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            result, _ = upsampler.enhance(img, outscale=outscale)
            cv2.imwrite(str(Path(out) / path.name), result)
        if half:
            import torch

            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    return {"wall": wall, "images": len(inputs), "output": list(result.shape), "device": device, **peaks(device)}


def run_child(args: argparse.Namespace, engine: str, inputs: Path) -> dict:
    argv = [sys.executable, __file__, "--child", engine, "--inputs", str(inputs)]
    for key in ("pipeline", "device", "config", "jobs", "threads", "ref_tile", "out_size", "weights"):
        value = getattr(args, key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    for item in args.set or ():
        argv += ["--set", item]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="anime-4k", help="a pipeline name (restore-4k, anime-4k)")
    parser.add_argument("--config", default=str(ROOT / "pipelines.yaml"))
    parser.add_argument("--set", action="append", help="override a pipeline setting (as enhance run --set)")
    parser.add_argument("--size", type=int, default=4096, help="input side in pixels (square)")
    parser.add_argument("--count", type=int, default=8, help="images in the folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=None, help="decode/encode threads (enhance run -j)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in each engine")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the engines this many times")
    parser.add_argument("--engines", default=",".join(ENGINES), help="which engines, comma-separated")
    parser.add_argument("--ref-tile", type=int, default=0, help="upstream tile (0: whole image, its default)")
    parser.add_argument("--out-size", type=int, default=4096, help="output long side (upstream's outscale)")
    parser.add_argument("--weights", default=None, help="upstream weights (default: the upscale stage's)")
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.engine = args.child
        print(json.dumps(child(args)))
        return

    weights = shared_weights()
    if weights is not None:
        os.environ.setdefault("ENHANCE_WEIGHTS", str(weights))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        make_inputs(inputs, args.size, args.count)
        for round_ in range(args.rounds):
            order = engines[round_ % len(engines) :] + engines[: round_ % len(engines)]
            for engine in order:
                result = run_child(args, engine, inputs)
                runs[engine].append(result)
                print(f"round {round_ + 1} {engine}: {result['wall']:.2f} s", file=sys.stderr)
    table = render(args, runs)
    print(table)
    if args.append:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + table + "\n")


def render(args: argparse.Namespace, runs: dict[str, list[dict]]) -> str:
    """The markdown section: one row per engine (medians), the pipeline's per-stage seconds and profile."""
    device = next(iter(runs.values()))[0]["device"]
    command = "uv run python benchmarks/bench_pipeline.py " + " ".join(sys.argv[1:])
    lines = [
        f"### Folder run: `{args.pipeline}`, {args.count} × {args.size}² PNG, {device}",
        "",
        f"{describe(device)}. Command: `{command}`. Medians of {args.rounds} alternating round(s).",
        "",
        "| engine | images | wall s | images/s | s/image | peak RSS MB | peak device MB |",
        "|---|---|---|---|---|---|---|",
    ]
    med: dict[str, float] = {}
    for engine, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        med[engine] = wall
        n = results[0]["images"]
        dev = max((r.get("peak_device_mb", 0) for r in results), default=0) or "–"
        rss = max(r["peak_rss_mb"] for r in results)
        lines.append(f"| {engine} | {n} | {wall:.2f} | {n / wall:.3f} | {wall / n:.2f} | {rss:.0f} | {dev} |")
    if "pipeline" in runs:
        profile = runs["pipeline"][len(runs["pipeline"]) // 2]["profile"]
        n = profile.get("images") or 1
        lines += ["", "Pipeline run, seconds per image (each step summed over the files, over the images):", ""]
        per = profile.get("per_image") or {}
        stages = ", ".join(f"{k} {v / n:.2f}" for k, v in (profile.get("stages") or {}).items())
        lines.append(
            f"read {per.get('read', 0):.2f}, compute {per.get('compute', 0):.2f} ({stages}), "
            f"write {per.get('write', 0):.2f}, score on host threads {per.get('score', 0):.2f}; device busy "
            f"{100 * (profile.get('device_busy') or 0):.0f} % of the wall; waits (s) {profile.get('waits')}; "
            f"bound by: {profile.get('bound')}."
        )
        if "pipeline-1" in runs and args.count > 1:
            marginal = (med["pipeline"] - med["pipeline-1"]) / (args.count - 1)
            compute = per.get("compute") or 0
            lines.append(
                f"Marginal wall per image (wall of {args.count} - wall of 1) / {args.count - 1} = {marginal:.2f} s "
                f"against {compute:.2f} s of compute per image: ratio {marginal / compute:.2f}."
            )
        if "upscale" in runs:
            ratio = (args.count / med["pipeline"]) / (runs["upscale"][0]["images"] / med["upscale"])
            lines.append(f"Pipeline images/s over the upscale stage's alone: {ratio:.2f}.")
        if "upstream" in runs:
            ratio = med["upstream"] / med["pipeline"]
            lines.append(f"Pipeline images/s over upstream's folder loop: {ratio:.2f}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
