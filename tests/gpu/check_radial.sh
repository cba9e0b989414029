#!/usr/bin/env bash
# The GPU check of issue 10 (item 8): `gadgetron-inr bench radial` with the paper preset on CUDA, at the
# DA-INR paper's size (128x128, 23 frames, 32 coils, 13 golden-angle spokes per frame), DA-INR and GRASP
# (its classical peer), bounded to fit 8 minutes of device time.
#
# NOT RUN YET: no GPU was lent to the task that wrote this script, so it has never run on a GPU. Everything
# it calls was run on the CPU at a tiny size (the rehearsal below); docs/bench-radial.md says the same.
#
# Run from anywhere on a machine with an NVIDIA GPU:   bash tests/gpu/check_radial.sh
#   It writes results.json, results.md, figure_13spokes.png, bench.log and environment.txt into $OUT when
#   that is set (the device tool's folder that comes back), else into out/gpu-check/. The raw and image files
#   stay in out/gpu-check/radial/ (a 32-coil raw file is about 40 MB).
# Exit status: 0 done; 3 skipped (no GPU, no CUDA torch or a missing package; it says which); 124 timed out
#   (bench.log then holds the rows that finished); anything else is the benchmark's own status.
#
# What it needs there (the GPU machine has no network, so all of it must be on it before it starts):
#   - a Python with a CUDA build of torch >= 2.1 and the project's dependencies. Either the .venv that
#     `make venv` makes on a machine where nvidia-smi exists (it then installs torch from PyPI, whose Linux
#     wheels are CUDA builds) while that machine is still online; or, without .venv, `python3` (or $PYTHON)
#     of an image that holds CUDA torch, numpy, scipy, h5py, scikit-image, matplotlib, tqdm, pyyaml and numba
#     (the device image of this workplace does), plus the five packages such an image lacks as wheels in .whl/:
#     fetch them online with `bash tests/gpu/check_radial.sh --fetch-wheels` (ismrmrd, xsdata, sigpy,
#     PyWavelets, torchkbnufft for CPython $GPU_CHECK_PYVER, default 3.12; about 5 MB) and take .whl/ along
#     (the device tool: carry [".whl"]). They are installed into a temporary folder, never into the image.
#   - about 8 GB of free GPU memory at most (the paper reports 3.5 GB for DA-INR at 32 coils).
#
# CPU rehearsal (what was run where no GPU is lent; about a minute on 2 cores):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_SIZE="--matrix 32 --frames 4 --coils 2 --spokes 5" \
#     GPU_CHECK_PRESET=fast bash tests/gpu/check_radial.sh
# Other knobs: GPU_CHECK_METHODS (default "grasp da-inr"), GPU_CHECK_TIMEOUT (seconds for the benchmark,
# default 420, which leaves the rest of the 8 minutes for the machine's start and the copy back).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

WHEELS=(ismrmrd==1.15.0 xsdata==26.10 sigpy==0.1.27 PyWavelets==1.9.0 torchkbnufft==1.5.2)
PYVER=${GPU_CHECK_PYVER:-3.12}

if [[ -x .venv/bin/python ]]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi

if [[ "${1:-}" == "--fetch-wheels" ]]; then  # run online, on any x86-64 Linux machine with pip
    mkdir -p .whl
    exec "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi
[[ $# -eq 0 ]] || { echo "usage: $0 [--fetch-wheels]" >&2; exit 2; }

DEVICE=${GPU_CHECK_DEVICE:-cuda}
SIZE=${GPU_CHECK_SIZE:---matrix 128 --frames 23 --coils 32 --spokes 13}
METHODS=${GPU_CHECK_METHODS:-grasp da-inr}
PRESET=${GPU_CHECK_PRESET:-paper}
LIMIT=${GPU_CHECK_TIMEOUT:-420}
WORK=out/gpu-check
RESULTS=${OUT:-$WORK}
mkdir -p "$WORK"
CHECK=check_radial IMPORTS="torch, numpy, scipy, h5py, skimage, matplotlib, tqdm, yaml, ismrmrd, sigpy.mri, torchkbnufft"
# shellcheck source=tests/gpu/setup.sh
source tests/gpu/setup.sh

record_environment "bench radial --preset $PRESET --device $DEVICE $SIZE --methods $METHODS (timeout $LIMIT s)"

start=$(date +%s)
# shellcheck disable=SC2086  # SIZE and METHODS are lists of words
timeout --kill-after=15 "$LIMIT" "$PY" -m pipelines.cli bench radial --preset "$PRESET" --device "$DEVICE" $SIZE \
    --methods $METHODS --out-dir "$WORK" 2>&1 | tee "$RESULTS/bench.log"
status=${PIPESTATUS[0]}
echo "check_radial: bench exited $status after $(( $(date +%s) - start )) s" | tee -a "$RESULTS/bench.log"
if [[ "$RESULTS" != "$WORK" ]]; then
    cp "$WORK"/radial/results.json "$WORK"/radial/results.md "$WORK"/radial/figure_*.png "$RESULTS"/ 2>/dev/null
fi
[[ $status == 137 ]] && status=124  # killed after the grace period: still a timeout
exit "$status"
