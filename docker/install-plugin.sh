#!/usr/bin/env bash
# install-plugin.sh: install gadgetron-inr into the Python environment Gadgetron starts its external
# nodes with ($CONDA_PREFIX/bin/python: Gadgetron runs the first python on its PATH) and the stream
# configurations into Gadgetron's config folder. The one install procedure of both images
# (docker/Dockerfile on the official Gadgetron image, docker/Containerfile on a local Debian), so
# they cannot drift. Two steps, so that an image rebuilds only the second when the sources change:
#
#   install-plugin.sh --dependencies pyproject.toml   # torch, then the package's dependencies
#   install-plugin.sh SOURCE_DIR                      # the package itself and its configurations
#
# Environment: CONDA_PREFIX (required); TORCH, the torch requirement installed first (default
# torch==2.13.0; pip then keeps it, as it satisfies the package's torch>=2.1); TORCH_INDEX, an index
# URL for it (the CPU build's index, so that no CUDA packages come along; empty: pip's own
# configuration, find-links included).
set -euo pipefail
: "${CONDA_PREFIX:?set CONDA_PREFIX to the environment Gadgetron runs}"
python=$CONDA_PREFIX/bin/python
config_dir=$CONDA_PREFIX/share/gadgetron/config
pip() { "$python" -m pip install --no-cache-dir --disable-pip-version-check "$@"; }

if [[ ${1:-} == --dependencies ]]; then
  pip ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "${TORCH:-torch==2.13.0}"
  # The dependencies and the build requirements, read from pyproject.toml:
  # with them installed, the second step builds without an isolated environment, so needs no index.
  # (tomllib is Python >= 3.11; the official image's environment may be older: tomli then.)
  "$python" -c 'import tomllib' 2>/dev/null || "$python" -c 'import tomli' 2>/dev/null || pip tomli
  mapfile -t deps < <("$python" -c 'import sys
try:
    import tomllib
except ImportError:
    import tomli as tomllib
p = tomllib.load(open(sys.argv[1], "rb"))
print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' "$2")
  pip "${deps[@]}"
  exit 0
fi

src=${1:?usage: install-plugin.sh --dependencies pyproject.toml | install-plugin.sh SOURCE_DIR}
[[ -d $config_dir ]] || { echo "install-plugin.sh: no Gadgetron config folder at $config_dir" >&2; exit 1; }
pip --no-build-isolation "$src"
cp "$src"/pipelines/streaming/configs/*.xml "$config_dir/"
# The python Gadgetron will find must be the one that has the plugin.
[[ $(PATH=$CONDA_PREFIX/bin:$PATH command -v python) == "$python" ]] || {
  echo "install-plugin.sh: $python is not the first python on PATH=$CONDA_PREFIX/bin:..." >&2; exit 1; }
(cd / && "$python" -c "import gadgets.cine_reconstruction, gadgets.fault, pipelines.streaming.emulator, torch
print('gadgetron-inr installed; torch', torch.__version__)")
