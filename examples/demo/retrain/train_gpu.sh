#!/usr/bin/env bash
# One prepared GPU run for the demo model (issue 21): crops, a timing probe, then the demo recipe
# (examples/demo/retrain/recipe.json) scaled to the steps that fit the budget, all in BUDGET seconds
# (default 500, under the 9 minutes a command may take). The model and its snapshots come back
# in $OUT; choosing among them happens on the CPU, on the validation photos only.
#
# Before it, on the CPU (the photos are not in git; the device run carries them):
#     python examples/demo/gather_photos.py photos demo-data      # train/ and validation/
# Then on the device machine (run tool: carry ["demo-data/train"], timeout_s 570):
#     bash examples/demo/retrain/train_gpu.sh
# $OUT receives: train_gpu.log (timings, the scaled config, the training log), run.json (the
# config the run used: the recipe scaled), final/ (the model: config.json + model.safetensors,
# about 8 MB) and snapshots/step-*/ (the averaged model at each snapshot, the same size).
set -u
cd "$(dirname "$0")/../../.."
OUT="${OUT:-$PWD/demo-gpu}"
BUDGET="${BUDGET:-500}"
PY="${PY:-python3}"
DATA="${DATA:-demo-data/train}"
RECIPE="${RECIPE:-examples/demo/retrain/recipe.json}"
PROBE_STEPS="${PROBE_STEPS:-150}"
WORK="${WORK:-/tmp/demo-gpu}"
DEVICE="${DEVICE:-cuda}"   # cpu: a smoke run of this script (with RECIPE_SET="--set precision=fp32 ...")
CROPS="${CROPS:-100}"
read -r -a SET <<<"${RECIPE_SET:-}"
START=$SECONDS
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$PWD"
mkdir -p "$OUT" "$WORK"
LOG="$OUT/train_gpu.log"
say() { echo "[$((SECONDS - START))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - (SECONDS - START))); }

say "train_gpu.sh: budget ${BUDGET}s, photos in $DATA ($(ls "$DATA" | wc -l) files), recipe $RECIPE"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$LOG" 2>&1

# 1. Multi-scale 128 px crops of the training photos (crop sides 0.1-1 of the short side).
$PY examples/demo/gather_photos.py crops "$DATA" "$WORK/crops" --size 128 --crops "$CROPS" --min-scale 0.1 --seed 0 \
    >>"$LOG" 2>&1 || { say "crops failed"; exit 1; }
say "crops: $(ls "$WORK/crops" | wc -l) images"

# 2. A timing probe: the recipe scaled to PROBE_STEPS steps (start-up included, so the estimate is safe).
$PY examples/demo/retrain/scale_recipe.py "$RECIPE" --steps "$PROBE_STEPS" "${SET[@]}" >"$WORK/probe.json"
t0=$SECONDS
timeout --kill-after=5 $(($(left) - 60)) $PY -m dpinpaint.cli train "$WORK/probe.json" --data "$WORK/crops" \
    --output "$WORK/probe" --device "$DEVICE" --quiet >>"$LOG" 2>&1 || { say "probe failed"; exit 1; }
probe=$((SECONDS - t0))
# 3. The whole recipe in what is left, less 40 s for the start-up, the export and copying back.
steps=$(( ($(left) - 40) * PROBE_STEPS / (probe > 0 ? probe : 1) ))
say "probe: $PROBE_STEPS steps in ${probe}s; the recipe gets $steps steps"
$PY examples/demo/retrain/scale_recipe.py "$RECIPE" --steps "$steps" "${SET[@]}" >"$OUT/run.json"
cat "$OUT/run.json" >>"$LOG"
t0=$SECONDS
timeout --kill-after=5 $(($(left) - 10)) $PY -m dpinpaint.cli train "$OUT/run.json" --data "$WORK/crops" \
    --output "$WORK/run" --device "$DEVICE" --quiet >>"$LOG" 2>&1
rc=$?
say "training: exit $rc after $((SECONDS - t0))s"
# 4. What comes back: the model, the snapshots and the training log (no optimiser state).
[ -d "$WORK/run/final" ] && cp -r "$WORK/run/final" "$OUT/final"
[ -d "$WORK/run/snapshots" ] && cp -r "$WORK/run/snapshots" "$OUT/snapshots"
cp "$WORK/run/"*.jsonl "$OUT/" 2>/dev/null
say "done: $(ls "$OUT")"
