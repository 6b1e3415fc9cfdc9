#!/usr/bin/env bash
# The GPU figures in BENCHMARKS.md, in one go (under 8 minutes: the step limits sum to 475 s), on
# a machine with CUDA PyTorch (no uv environment needed). Run from the repository root:
#
#   ENHANCE_SHARED=/path/to/shared benchmarks/gpu_suite.sh OUT_DIR [STEP...]
#
# STEP is any of: machine tests upscale folder deband metrics resize (default: machine tests
# upscale folder; the last three were measured before and run only when named).
#   upscale: the upscale stage alone on a 2048^2 input (x4 model, then x2 on the device), images/s
#            in fp16 and bf16, each without and with torch.compile, and upstream RealESRGANer once;
#   folder:  `enhance run -p anime-4k` on 8 PNGs of 4096^2 (the same weights), wall time and the
#            per-file timings the manifest records (read/compute/write and per stage where present).
# ENHANCE_SHARED is the folder with weights/realesr-animevideov3.pth and data/kodak24 (default
# ../shared). Each step's output goes to OUT_DIR/<step>.txt; a failing step does not stop the rest.
set -u
out="${1:-gpu-results}"
shift || true
steps="${*:-machine tests upscale folder}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
shared="${ENHANCE_SHARED:-$(cd .. && pwd)/shared}"
export ENHANCE_SHARED="$shared" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
weights="$shared/weights/realesr-animevideov3.pth"
photo="$shared/data/kodak24/kodim23.png"

step() {  # step NAME SECONDS COMMAND... : run with a time limit, tee to OUT/NAME.txt
  local name="$1" limit="$2"; shift 2
  case " $steps " in *" $name "*) ;; *) return 0 ;; esac
  echo "### $name: $*" | tee -a "$out/$name.txt"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.txt"
  echo "### $name exit ${PIPESTATUS[0]}" | tee -a "$out/$name.txt"
}

upscale() {  # upscale PRECISION [--compile]: the stage alone, 2048^2 -> 4096^2
  python3 benchmarks/bench_upscale.py --mode stage --device cuda --size 2048 --outscale 2 --precision "$@" \
    --repeat 5 --rounds 1 --engines ours --weights "$weights" --image "$photo"
}

folder() {  # 8 PNGs of 4096^2 through anime-4k; wall time and the manifest's timings
  local work="$out/folder-work"
  rm -rf "$work" && mkdir -p "$work/in"
  python3 - "$work/in" "$shared/data/kodak24" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
target, photos = Path(sys.argv[1]), sorted(Path(sys.argv[2]).glob("*.png"))
for i in range(8):
    a = np.asarray(Image.open(photos[i % len(photos)]).convert("RGB"))
    a = np.pad(a, ((0, 4096 - a.shape[0]), (0, 4096 - a.shape[1]), (0, 0)), mode="symmetric")
    Image.fromarray(np.ascontiguousarray(a)).save(target / f"img{i}.png", compress_level=1)
PY
  local start=$EPOCHREALTIME
  python3 -m enhance run "$work/in" -o "$work/out" -p anime-4k --set "upscale.model=$weights" --device cuda -q
  local rc=$? end=$EPOCHREALTIME
  echo "exit $rc; wall $(python3 -c "print(round($end - $start, 2))") s for 8 images (start-up and model load included)"
  python3 - "$work/out/manifest.json" <<'PY'
import json, statistics, sys
records = [r for r in json.load(open(sys.argv[1]))["files"] if r["status"] == "done"]
keys = sorted({k for r in records for k in r.get("timings", {}) if isinstance(r["timings"][k], (int, float))})
for k in keys:
    values = [r["timings"][k] for r in records if isinstance(r["timings"].get(k), (int, float))]
    print(f"{k}: median {statistics.median(values):.3f} s over {len(values)} files")
for r in records[:1]:
    print("first record timings:", json.dumps(r.get("timings")), "| upscale:", json.dumps(r.get("results", {}).get("upscale")))
PY
  rm -rf "$work"
}

export out shared weights photo
export -f upscale folder

step machine 20 sh -c 'nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"; date -u'
step tests 100 python3 -m pytest tests -m cuda -q -rs -p no:cacheprovider -p no:randomly
step upscale 45 python3 benchmarks/bench_upscale.py --mode stage --device cuda --size 2048 --outscale 2 \
  --precision fp16 --repeat 3 --rounds 1 --engines upstream --weights "$weights" --image "$photo"
for precision in fp16 bf16; do
  step upscale 35 bash -c "upscale $precision"
  step upscale 70 bash -c "upscale $precision --compile"
done
step folder 100 bash -c folder
step deband 120 python3 benchmarks/bench_deband.py --device cuda --repeat 5
step metrics 90 python3 benchmarks/bench_metrics.py --device cuda --skip-reference
step resize 90 python3 benchmarks/bench_resize.py --device cuda --size 4096
