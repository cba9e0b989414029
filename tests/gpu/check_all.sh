#!/usr/bin/env bash
# The one GPU check (issue 19, item 7), for one NVIDIA H100 in one call of the device tool, at most 8 minutes:
#   lr-cartesian  `bench cartesian` 160x160, 16 frames, 10 coils, kt-uniform R8 (the issue's bench size):
#                 lr-inr beside LLR (its warm start's method) and gen-inr, defaults;
#   lr-radial     `bench radial` 128x128, 23 frames, 8 coils, 13 spokes (the issue's bench size): lr-inr beside
#                 GRASP, defaults;
#   kp-inr        `bench cartesian --preset paper` 64x64, 12 frames, 8 coils, kt-uniform R8 (the size of the
#                 former check_kp_inr.sh): KP-INR's paper schedule (6000 steps) beside LLR's paper preset;
#                 steps/s of the whole chain;
#   da-inr        `bench radial --preset paper` at the DA-INR paper's size (128x128x23, 32 coils, 13 spokes):
#                 DA-INR `paper` (1000 steps) beside GRASP `paper`; steps/s of the whole chain;
#   gen-inr       `bench gen-inr` 192x192, 20 frames, 10 coils, R4: ms per frame (shipped weights) and its
#                 quality beside CG-SENSE;
#   gen-inr-train (not in the default stages: it does not fit the 8 minutes with the others) `train gen-inr`
#                 300 steps on CUDA, batch 8, 25% kt masks, 200 s budget (the former check_gen_inr.sh's
#                 training): steps/s and validation PSNR of a GPU training run.
# Each row: PSNR/SSIM (the benches' protocols), wall time of the whole chain, peak memory
# (torch.cuda.max_memory_allocated on CUDA). Each stage runs under its own `timeout` (killed with its child
# processes: timeout signals the whole process group), capped by what is left of GPU_CHECK_TOTAL (450 s from
# the script's start, set-up included; the stages' own limits add up to 430 s), so the script ends inside 8
# minutes even if a stage hangs (at most 450 s, 10 s of kill grace and the summary); a stage that times out is
# recorded as such and the next one runs. It supersedes check_radial.sh, check_kp_inr.sh and
# check_gen_inr.sh (GPU_CHECK_STAGES=gen-inr-train runs the latter's training alone).
#
# NOT RUN ON A GPU YET: no GPU was lent to the task that wrote this script. Its CPU rehearsal (below) was run;
# docs/methods-inr-ceilings.md ("GPU check") says the same.
#
# Run from anywhere on a machine with an NVIDIA GPU:   bash tests/gpu/check_all.sh
#   Through the device tool: run(command="bash tests/gpu/check_all.sh", timeout_s=480, carry=[".whl"]).
# It writes into $OUT when set (the device tool's folder that comes back, at most 8 files), else
# out/gpu-check-all/results/ (rehearsal: out/gpu-check-all-rehearsal/results/): summary.json (every stage's
# status, time and full bench JSON), summary.md (the readable tables), bench.log (every stage's output) and
# environment.txt (commit, Python/torch/CUDA/GPU, nvidia-smi, the settings). Raw files, images and figures
# stay in out/gpu-check-all/<stage>/.
# Exit status: 0 every stage and every method done; 3 skipped (no GPU, no CUDA torch or a missing package; it
#   says which); 124 a stage timed out or found no time left; else the first failing stage's status; 1 all stages
#   ended but a method's row failed (the summary names it). Later stages run after a failed one.
#
# What it needs there (the GPU machine has no network): a Python with a CUDA build of torch >= 2.1 and the
# project's dependencies: the .venv of `make venv` made on a machine where nvidia-smi exists, or $PYTHON /
# python3 of an image holding CUDA torch, numpy, scipy, h5py, scikit-image, matplotlib, tqdm, pyyaml and
# numba (the device image of this workplace does) plus the five packages such an image lacks as wheels in
# .whl/: fetch them online with `bash tests/gpu/check_all.sh --fetch-wheels` (ismrmrd, xsdata, sigpy,
# PyWavelets, torchkbnufft for CPython $GPU_CHECK_PYVER, default 3.12; about 5 MB) and carry .whl/. They are
# installed into a temporary folder, never into the image (tests/gpu/setup.sh). GPU memory: unmeasured here; the
# DA-INR paper reports 3.5 GB for DA-INR at 32 coils.
#
# CPU rehearsal (tiny sizes, smoke/fast presets, device cpu; every stage and the summary):
#   GPU_CHECK_REHEARSAL=1 bash tests/gpu/check_all.sh
# Knobs: GPU_CHECK_STAGES (default "lr-cartesian lr-radial kp-inr da-inr gen-inr"), GPU_CHECK_TOTAL (seconds from
#   the start to the last stage's end, default 450), GPU_CHECK_TIMEOUT_<STAGE> (lr_cartesian 75, lr_radial 75, kp_inr 110,
#   da_inr 110, gen_inr 60, gen_inr_train 240), GPU_CHECK_DEVICE (cuda; rehearsal cpu), GPU_CHECK_WORK (the work folder).
set -uo pipefail
BEGIN=$(date +%s)  # GPU_CHECK_TOTAL counts from here: the set-up (imports, wheels) is inside it
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
[[ $# -eq 0 ]] || { echo "usage: $0 [--fetch-wheels] (knobs are environment variables, see the header)" >&2; exit 2; }

REHEARSAL=${GPU_CHECK_REHEARSAL:-0}
[[ "$REHEARSAL" == 0 || "$REHEARSAL" == 1 ]] || { echo "GPU_CHECK_REHEARSAL must be 0 or 1" >&2; exit 2; }
WORK=${GPU_CHECK_WORK:-out/gpu-check-all}
if [[ "$REHEARSAL" == 1 ]]; then
    WORK=${GPU_CHECK_WORK:-out/gpu-check-all-rehearsal}
    DEVICE=${GPU_CHECK_DEVICE:-cpu}
    CART="--matrix 64 --frames 4 --coils 4"  # tiny: the path, not a figure of merit (gen-inr needs >= 64)
    LRRAD="--matrix 32 --frames 4 --coils 2 --spokes 5"
    KP="--matrix 32 --frames 4 --coils 4"; DARAD=$LRRAD; LR_PRESET=smoke; KP_PRESET=smoke; DA_PRESET=fast
    GEN="--matrix 96 --frames 2 --accelerations 4"
    TRAIN="--steps 4 --batch 1 --sizes 64 --val-samples 1 --val-every 4"
else
    DEVICE=${GPU_CHECK_DEVICE:-cuda}
    CART="--matrix 160 --frames 16 --coils 10"
    LRRAD="--matrix 128 --frames 23 --coils 8 --spokes 13"   # the issue's bench radial size
    KP="--matrix 64 --frames 12 --coils 8"
    DARAD="--matrix 128 --frames 23 --coils 32 --spokes 13"  # the DA-INR paper's size
    LR_PRESET=""; KP_PRESET=paper; DA_PRESET=paper
    GEN="--matrix 192 --frames 20 --coils 10 --accelerations 4"
    TRAIN="--steps 300 --batch 8 --kt-masks 0.25 --val-samples 8 --val-every 100 --time-budget 200"
fi
ALL_STAGES="lr-cartesian lr-radial kp-inr da-inr gen-inr"
STAGES=${GPU_CHECK_STAGES:-$ALL_STAGES}
TOTAL=${GPU_CHECK_TOTAL:-450}
declare -A DEFAULT_LIMIT=([lr-cartesian]=75 [lr-radial]=75 [kp-inr]=110 [da-inr]=110 [gen-inr]=60 [gen-inr-train]=240)
seconds() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "$1 must be a whole number of seconds, not '$2'" >&2; exit 2; }; }
seconds GPU_CHECK_TOTAL "$TOTAL"
for name in $STAGES; do
    [[ -n "${DEFAULT_LIMIT[$name]:-}" ]] || \
        { echo "GPU_CHECK_STAGES: unknown stage '$name' ($ALL_STAGES gen-inr-train)" >&2; exit 2; }
    knob="GPU_CHECK_TIMEOUT_${name//-/_}"
    seconds "$knob" "${!knob:-${DEFAULT_LIMIT[$name]}}"
done
RESULTS=${OUT:-$WORK/results}
mkdir -p "$WORK"
CHECK=check_all IMPORTS="torch, numpy, scipy, h5py, skimage, matplotlib, tqdm, yaml, ismrmrd, sigpy.mri, torchkbnufft"
# shellcheck source=tests/gpu/setup.sh
source tests/gpu/setup.sh
: > "$RESULTS/bench.log"

# stage NAME ARGS...: run `gadgetron-inr ARGS` (its output folder $WORK/NAME; tests/gpu/gadgetron_inr.py:
# the command line without its entry point installed) under its own timeout (the smaller of
# GPU_CHECK_TIMEOUT_<NAME> and what is left of TOTAL), log it (stdout also to $WORK/NAME.stdout: train's JSON),
# and record status and seconds.
FIRST_FAILURE=0
: > "$WORK/stages.tsv"
stage() {
    local name=$1 knob left limit start status
    shift
    knob="GPU_CHECK_TIMEOUT_${name//-/_}"
    limit=${!knob:-${DEFAULT_LIMIT[$name]}}
    left=$(( TOTAL - ($(date +%s) - BEGIN) ))
    (( left < limit )) && limit=$left
    if (( limit < 10 )); then
        echo "check_all: $name not run: ${left} s left of GPU_CHECK_TOTAL=$TOTAL" | tee -a "$RESULTS/bench.log"
        printf '%s\t%s\t%s\t%s\n' "$name" "not-run" 0 0 >> "$WORK/stages.tsv"
        [[ $FIRST_FAILURE == 0 ]] && FIRST_FAILURE=124
        return
    fi
    echo "check_all: == $name (timeout $limit s): gadgetron-inr $*" | tee -a "$RESULTS/bench.log"
    rm -rf "${WORK:?}/$name" "$WORK/$name.stdout"
    mkdir -p "$WORK/$name"
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$PY" tests/gpu/gadgetron_inr.py "$@" 2>> "$RESULTS/bench.log" \
        > "$WORK/$name.stdout"
    status=$?
    cat "$WORK/$name.stdout" >> "$RESULTS/bench.log"
    [[ $status == 137 ]] && status=124  # killed after the grace period: still a timeout
    echo "check_all: $name exited $status after $(( $(date +%s) - start )) s" | tee -a "$RESULTS/bench.log"
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - start ))" "$limit" >> "$WORK/stages.tsv"
    [[ $status != 0 && $FIRST_FAILURE == 0 ]] && FIRST_FAILURE=$status
}

record_environment "check_all.sh rehearsal=$REHEARSAL device=$DEVICE stages='$STAGES' total=$TOTAL s
lr-cartesian: bench cartesian $CART --patterns kt-uniform --accelerations 8 --methods llr lr-inr gen-inr ${LR_PRESET:+--preset $LR_PRESET}
lr-radial: bench radial $LRRAD --methods grasp lr-inr ${LR_PRESET:+--preset $LR_PRESET}
kp-inr: bench cartesian $KP --patterns kt-uniform --accelerations 8 --methods llr kp-inr --preset $KP_PRESET
da-inr: bench radial $DARAD --methods grasp da-inr --preset $DA_PRESET
(a --preset applies to each method that has it, the classical peers included; the others run their defaults)
gen-inr: bench gen-inr $GEN
gen-inr-train: train gen-inr $TRAIN --no-progress" | cat >> "$RESULTS/bench.log"

for name in $STAGES; do
    # shellcheck disable=SC2086  # the sizes are lists of words
    case $name in
        lr-cartesian) stage "$name" bench cartesian --device "$DEVICE" $CART --patterns kt-uniform --accelerations 8 \
                          --methods llr lr-inr gen-inr ${LR_PRESET:+--preset $LR_PRESET} --out-dir "$WORK/$name" ;;
        lr-radial) stage "$name" bench radial --device "$DEVICE" $LRRAD --methods grasp lr-inr \
                       ${LR_PRESET:+--preset $LR_PRESET} --out-dir "$WORK/$name" ;;
        kp-inr) stage "$name" bench cartesian --device "$DEVICE" $KP --patterns kt-uniform --accelerations 8 \
                    --methods llr kp-inr --preset "$KP_PRESET" --out-dir "$WORK/$name" ;;
        da-inr) stage "$name" bench radial --device "$DEVICE" $DARAD --methods grasp da-inr --preset "$DA_PRESET" \
                    --out-dir "$WORK/$name" ;;
        gen-inr) stage "$name" bench gen-inr --device "$DEVICE" $GEN --out-dir "$WORK/$name" ;;
        gen-inr-train) stage "$name" train gen-inr --device "$DEVICE" $TRAIN --no-progress \
                           -o "$WORK/$name/gpu_trained.pt" ;;
    esac
done

# One JSON and one readable summary of every stage (tests/gpu/summarize.py; timed-out stages included).
timeout 60 "$PY" tests/gpu/summarize.py "$WORK" "$RESULTS" "$DEVICE" 2>&1 | tee -a "$RESULTS/bench.log"
summary=${PIPESTATUS[0]}
echo "check_all: done in $(( $(date +%s) - BEGIN )) s" | tee -a "$RESULTS/bench.log"
[[ $FIRST_FAILURE != 0 ]] && exit "$FIRST_FAILURE"
exit "$summary"
