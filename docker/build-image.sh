#!/usr/bin/env bash
# build-image.sh: build localhost/gadgetron-inr:local from docker/Containerfile with podman (layers
# cached between runs), after the host set-up and base image of make-base-image.sh. Run as root from
# anywhere; the context is the repository root (.dockerignore keeps .venv, out/ and caches out).
#
#   bash docker/build-image.sh          # IMAGE=... GADGETRON_PREFIX=... override the defaults
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
IMAGE=${IMAGE:-localhost/gadgetron-inr:local}
BUILD_GADGETRON=$ROOT/../shared/tools/build-gadgetron
if [[ -z ${GADGETRON_PREFIX:-} && -f $BUILD_GADGETRON ]]; then
  GADGETRON_PREFIX=$(bash "$BUILD_GADGETRON" --prefix)
fi
PREFIX=${GADGETRON_PREFIX:-/opt/gadgetron-4.7.2}
if [[ ! -x $PREFIX/bin/gadgetron ]]; then
  echo "build-image.sh: no Gadgetron at $PREFIX/bin/gadgetron: build it with ../shared/tools/build-gadgetron" >&2
  exit 3
fi

bash "$HERE/make-base-image.sh"
mounts=(-v "$PREFIX:/run/gadgetron-prefix:ro")
# The machine's pip find-links folder (the CPU torch wheel lies there); pip ignores a missing one.
wheels=${PIP_FIND_LINKS:-/opt/wheels}
[[ -d $wheels ]] && mounts+=(-v "$wheels:/run/wheels:ro")
# The CA bundle the host's pip trusts: here PyPI is reached through a TLS-intercepting proxy.
cert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $cert ]] && mounts+=(-v "$cert:/run/pip-cert.pem:ro")
build_id=$(cat "$PREFIX"/bin/gadgetron "$PREFIX"/lib/*.so.* | sha256sum | cut -c1-16)
exec timeout "${BUILD_TIMEOUT_S:-1800}" podman build --layers -f "$HERE/Containerfile" -t "$IMAGE" \
  --build-arg GADGETRON_BUILD_ID="$build_id" "${mounts[@]}" "$ROOT"
