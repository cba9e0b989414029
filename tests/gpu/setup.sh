# Sourced by the GPU check (check_all.sh) after they set CHECK (their name), PY, DEVICE, RESULTS and
# IMPORTS (the modules they need): the one place that finds the packages and the device.
# A missing Python, package or CUDA device ends the check with exit 3 and one line saying which;
# wheels carried in .whl/ (check_all.sh --fetch-wheels) are installed into a temporary folder first.
mkdir -p "$RESULTS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the project's packages without installing them
export PYTHONUNBUFFERED=1

skip() { echo "$CHECK: SKIPPED: $*" | tee -a "$RESULTS/bench.log" >&2; exit 3; }
imports() { "$PY" -c "import $IMPORTS" 2>&1; }

command -v "$PY" >/dev/null 2>&1 || skip "no Python at $PY"
if ! imports >/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    SITE=$(mktemp -d)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl \
        || skip "the wheels in .whl/ do not install into $PY (fetched for another CPython?)"
    export PYTHONPATH="$PYTHONPATH:$SITE"
fi
missing=$(imports) || skip "$PY lacks a package: ${missing##*$'\n'} (see check_all.sh's header for what it needs)"
if [[ "$DEVICE" == cuda ]]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || skip "$PY's torch $("$PY" -c 'import torch; print(torch.__version__)') sees no CUDA device"
fi

# record_environment "what runs": when, which commit, Python/torch/CUDA/GPU, and the command, into
# $RESULTS/environment.txt (and the log), so a result that comes back says where it was made.
record_environment() {
    {
        date -u +"%Y-%m-%dT%H:%M:%SZ"
        git log -1 --format="commit %H %s" 2>/dev/null || echo "commit: unknown (no git history in this copy)"
        "$PY" -c "import sys, os, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, \
'| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU', \
'| cpus', os.cpu_count())"
        command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version \
            --format=csv,noheader
        echo "$1"
    } > "$RESULTS/environment.txt" 2>&1
    cat "$RESULTS/environment.txt"
}
