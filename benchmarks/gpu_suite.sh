#!/usr/bin/env bash
# The GPU figures in BENCHMARKS.md: CUDA tests and every benchmark at full size, in one go, on a
# machine with CUDA PyTorch (no uv environment needed). Run from the repository root:
#
#   ENHANCE_SHARED=/path/to/shared benchmarks/gpu_suite.sh OUT_DIR [STEP...]
#
# STEP is any of: machine tests upscale deband metrics resize (default: all, in that order).
# ENHANCE_SHARED is the folder with weights/realesr-animevideov3.pth and data/kodak24 (default
# ../shared). Each step's output goes to OUT_DIR/<step>.txt; a failing step does not stop the rest.
set -u
out="${1:-gpu-results}"
shift || true
steps="${*:-machine tests upscale deband metrics resize}"
mkdir -p "$out"
shared="${ENHANCE_SHARED:-$(cd .. && pwd)/shared}"
export ENHANCE_SHARED="$shared" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
weights="$shared/weights/realesr-animevideov3.pth"
photo="$shared/data/kodak24/kodim23.png"

step() {  # step NAME SECONDS COMMAND... : run with a time limit, tee to OUT/NAME.txt
  local name="$1" limit="$2"; shift 2
  case " $steps " in *" $name "*) ;; *) return 0 ;; esac
  echo "### $name: $*" | tee "$out/$name.txt"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.txt"
  echo "### $name exit ${PIPESTATUS[0]}" | tee -a "$out/$name.txt"
}

step machine 60 sh -c 'nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"; date -u'
step tests 240 python3 -m pytest tests -m cuda -q -rs -p no:cacheprovider
step upscale 200 python3 benchmarks/bench_upscale.py --device cuda --size 2048 --outscale 2 --precision fp16 \
  --repeat 5 --rounds 2 --weights "$weights" --image "$photo"
step deband 120 python3 benchmarks/bench_deband.py --device cuda --repeat 5
step metrics 90 python3 benchmarks/bench_metrics.py --device cuda --skip-reference
step resize 90 python3 benchmarks/bench_resize.py --device cuda --size 4096
