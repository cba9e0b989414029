#!/usr/bin/env bash
# The GPU check of issue 12 (item 4): `gadgetron-inr bench cartesian --preset paper --device cuda` at a
# reduced size (64x64, 12 frames, 8 coils, kt-uniform R=8, the realistic simulation), KP-INR and P-INR with
# the paper's schedule (6000 steps, full widths) next to L+S and LLR, bounded to fit 8 minutes of device time.
# It reports PSNR/SSIM per method and, for the INRs, steps (the paper's epochs) per second of the whole chain.
#
# NOT RUN YET: no GPU was lent to the task that wrote this script, so it has never run on a GPU. Its CPU path
# was run at a tiny size (the rehearsal below); docs/methods-kp-inr.md says the same.
#
# Run from anywhere on a machine with an NVIDIA GPU:   bash tests/gpu/check_kp_inr.sh
#   It writes cartesian.json, cartesian.md, summary.txt, bench.log and environment.txt into $OUT when set
#   (the device tool's folder that comes back), else into out/gpu-check-kp/.
# Exit status: 0 done; 3 skipped (no GPU, no CUDA torch or a missing package; it says which); 124 timed out
#   (bench.log then holds the rows that finished); anything else is the benchmark's own status.
# What it needs there: a Python with a CUDA build of torch and the project's dependencies (see the header of
#   tests/gpu/check_radial.sh for the .venv or the image plus wheels in .whl/; this script installs those
#   wheels the same way when the imports fail).
#
# CPU rehearsal (what was run where no GPU is lent; a few minutes on 2 shared cores):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_PRESET=smoke GPU_CHECK_METHODS="l-plus-s p-inr kp-inr" \
#     GPU_CHECK_SIZE="--matrix 32 --frames 4 --coils 4" bash tests/gpu/check_kp_inr.sh
#   (`smoke`: the INRs' 30-step preset that only shows the path works; l-plus-s has no such preset and runs its
#   defaults.)
# Knobs: GPU_CHECK_SIZE, GPU_CHECK_METHODS (default "l-plus-s llr p-inr kp-inr"), GPU_CHECK_PRESET (paper),
#   GPU_CHECK_TIMEOUT (seconds for the benchmark, default 420: the rest of the 8 minutes is the machine's start
#   and the copy back).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

if [[ -x .venv/bin/python ]]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi
DEVICE=${GPU_CHECK_DEVICE:-cuda}
SIZE=${GPU_CHECK_SIZE:---matrix 64 --frames 12 --coils 8}
METHODS=${GPU_CHECK_METHODS:-l-plus-s llr p-inr kp-inr}
PRESET=${GPU_CHECK_PRESET:-paper}
LIMIT=${GPU_CHECK_TIMEOUT:-420}
WORK=out/gpu-check-kp
RESULTS=${OUT:-$WORK}
mkdir -p "$WORK"
CHECK=check_kp_inr IMPORTS="torch, numpy, scipy, h5py, skimage, matplotlib, ismrmrd, sigpy.mri"
# shellcheck source=tests/gpu/setup.sh
source tests/gpu/setup.sh

record_environment "bench cartesian --preset $PRESET --device $DEVICE $SIZE --patterns kt-uniform --accelerations 8 \
--methods $METHODS (timeout $LIMIT s)"

start=$(date +%s)
# shellcheck disable=SC2086  # SIZE and METHODS are lists of words
timeout --kill-after=15 "$LIMIT" "$PY" -m pipelines.cli bench cartesian --preset "$PRESET" --device "$DEVICE" \
    $SIZE --patterns kt-uniform --accelerations 8 --methods $METHODS --out-dir "$WORK" 2>&1 | tee "$RESULTS/bench.log"
status=${PIPESTATUS[0]}
echo "check_kp_inr: bench exited $status after $(( $(date +%s) - start )) s" | tee -a "$RESULTS/bench.log"
cp "$WORK"/cartesian/cartesian.json "$WORK"/cartesian/cartesian.md "$RESULTS"/ 2>/dev/null
# Steps per second: the steps the preset asks for over the whole chain's time (an upper bound on the time per
# step: the chain's other parts and the final full-grid prediction are in it).
"$PY" - "$WORK/cartesian/cartesian.json" "$PRESET" <<'PYEOF' | tee "$RESULTS/summary.txt"
import json, sys
from inr_core.methods import get_method
rows = json.load(open(sys.argv[1]))["rows"]
for r in rows:
    line = f"{r['method']:11s} " + (f"failed: {r['error']}" if r.get("error") else
                                    f"PSNR {r['psnr_mean']:.2f} SSIM {r['ssim_mean']:.4f} {r['seconds']:.1f} s")
    if r["method"] in ("p-inr", "kp-inr") and not r.get("error"):
        cls = get_method(r["method"])
        cfg = cls.make_config(sys.argv[2] if sys.argv[2] in cls.presets else None)
        line += f" | {cfg.steps} steps: {cfg.steps / r['seconds']:.1f} steps/s (whole chain)"
    print(line)
PYEOF
[[ $status == 137 ]] && status=124
exit "$status"
