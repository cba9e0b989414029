#!/usr/bin/env bash
# The GPU check of issue 11 (item 6): train gen-inr a few hundred steps on CUDA and time its inference there
# (`bench gen-inr --device cuda` with the shipped weights: quality rows and per-frame / per-slice time and
# peak memory), bounded by `timeout` to fit 8 minutes of device time.
#
# NOT RUN YET: no GPU was lent to the task that wrote this script, so it has never run on a GPU. Its CPU path
# was run at a tiny size (the rehearsal below); docs/methods-gen-inr.md says the same.
#
# Run from anywhere on a machine with an NVIDIA GPU:   bash tests/gpu/check_gen_inr.sh
#   It writes train.json, train.log, results.json, results.md, bench.log and environment.txt into $OUT when
#   that is set (the device tool's folder that comes back), else into out/gpu-check/gen-inr/.
# Exit status: 0 done; 3 skipped (no GPU, no CUDA torch or a missing package; it says which); 124 a step
#   timed out (its log holds what finished); anything else is that step's own status.
#
# What it needs there: a Python with a CUDA build of torch >= 2.1 and the project's dependencies (the .venv of
# `make venv` made where nvidia-smi exists, or $PYTHON / python3 of an image that has them; see the header of
# tests/gpu/check_radial.sh for carrying the few wheels such an image lacks in .whl/, which this script
# installs the same way). Under 2 GB of GPU memory.
#
# CPU rehearsal (what was run where no GPU is lent; about two minutes on 2 shared cores):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_TRAIN="--steps 4 --batch 1 --sizes 64 --val-samples 1 --val-every 4" \
#     GPU_CHECK_BENCH="--matrix 96 --frames 2 --accelerations 4" bash tests/gpu/check_gen_inr.sh
# Other knobs: GPU_CHECK_TRAIN_TIMEOUT (default 240 s), GPU_CHECK_BENCH_TIMEOUT (default 180 s): 7 minutes in
# all, which leaves the rest of the 8 for the machine's start and the copy back.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

if [[ -x .venv/bin/python ]]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi
[[ $# -eq 0 ]] || { echo "usage: $0 (knobs are environment variables, see the header)" >&2; exit 2; }

DEVICE=${GPU_CHECK_DEVICE:-cuda}
TRAIN=${GPU_CHECK_TRAIN:---steps 300 --batch 8 --kt-masks 0.25 --val-samples 8 --val-every 100 --time-budget 200}
BENCH=${GPU_CHECK_BENCH:---matrix 192 --frames 20 --coils 10 --accelerations 4 5 6}
TRAIN_LIMIT=${GPU_CHECK_TRAIN_TIMEOUT:-240}
BENCH_LIMIT=${GPU_CHECK_BENCH_TIMEOUT:-180}
WORK=out/gpu-check/gen-inr
RESULTS=${OUT:-$WORK}
mkdir -p "$WORK"
CHECK=check_gen_inr IMPORTS="torch, numpy, scipy, h5py, skimage, tqdm, ismrmrd, sigpy.mri, torchkbnufft"
# shellcheck source=tests/gpu/setup.sh
source tests/gpu/setup.sh

record_environment "train gen-inr --device $DEVICE $TRAIN (timeout $TRAIN_LIMIT s); bench gen-inr --device $DEVICE $BENCH"

start=$(date +%s)
# shellcheck disable=SC2086  # TRAIN and BENCH are lists of words
timeout --kill-after=15 "$TRAIN_LIMIT" "$PY" -m pipelines.cli train gen-inr --device "$DEVICE" $TRAIN --no-progress \
    -o "$WORK/gpu_trained.pt" > "$RESULTS/train.json" 2> "$RESULTS/train.log"
status=$?
echo "check_gen_inr: train exited $status after $(( $(date +%s) - start )) s" | tee -a "$RESULTS/train.log"
[[ $status == 137 ]] && status=124
[[ $status == 0 ]] || exit "$status"

start=$(date +%s)
# shellcheck disable=SC2086
timeout --kill-after=15 "$BENCH_LIMIT" "$PY" -m pipelines.cli bench gen-inr --device "$DEVICE" $BENCH \
    --out-dir "$WORK" 2>&1 | tee "$RESULTS/bench.log"
status=${PIPESTATUS[0]}
echo "check_gen_inr: bench exited $status after $(( $(date +%s) - start )) s" | tee -a "$RESULTS/bench.log"
if [[ "$RESULTS" != "$WORK" ]]; then
    cp "$WORK"/gen-inr/results.json "$WORK"/gen-inr/results.md "$RESULTS"/ 2>/dev/null
fi
[[ $status == 137 ]] && status=124
exit "$status"
