#!/usr/bin/env bash
# make-base-image.sh: the host set-up rootful podman needs on these machines, and the base image
# localhost/debian:bookworm made without a registry (none is reachable here). Idempotent: each step
# is skipped once done; bounded by timeouts. Must run as root (the hugetlb mount and podman's
# rootful storage). Measured recipe and the errors without each step: ../shared/reference/containers.md.
#
#   bash docker/make-base-image.sh          # set up the host and make the base image if it is missing
#   bash docker/make-base-image.sh --check  # exit 0 if podman can run here (as root, or installable)
set -euo pipefail
BASE=localhost/debian:bookworm
ROOTFS=${ROOTFS:-/var/tmp/gadgetron-inr-rootfs}
say() { printf '[make-base-image %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ $(id -u) != 0 ]]; then
  say "needs root (rootful podman, a cgroup mount, apt-get)"; exit 3
fi
if [[ ${1:-} == --check ]]; then
  command -v podman >/dev/null || command -v apt-get >/dev/null || { say "no podman and no apt-get"; exit 3; }
  exit 0
fi

packages=()
for p in podman uidmap slirp4netns fuse-overlayfs debootstrap; do
  dpkg -s "$p" >/dev/null 2>&1 || packages+=("$p")
done
if ((${#packages[@]})); then
  say "apt-get install ${packages[*]}"
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# root lacks CAP_SYS_RESOURCE here and podman's default rlimits exceed the hard limits (nofile 20000),
# so every `podman run` fails with "crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted".
conf=/etc/containers/containers.conf
if ! grep -qs 'default_ulimits' "$conf"; then
  say "default_ulimits in $conf"
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >>"$conf"
fi

# cgroup hybrid mode without a hugetlb v1 hierarchy: crun refuses ("cgroups in hybrid mode not
# supported"). A mount does not survive a reboot, hence checked on every run.
if [[ -d /sys/fs/cgroup/cpu ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  say "mounting the hugetlb cgroup"
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

if podman image exists "$BASE"; then
  exit 0
fi
# The mirror apt already uses (deb822 or one-line sources), so the build reaches what the host reaches.
mirror=$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
           /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
say "debootstrap bookworm from $mirror (~1 min)"
rm -rf "$ROOTFS"
timeout 900 debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >/dev/null
tar -C "$ROOTFS" -c . | timeout 300 podman import - "$BASE" >/dev/null
rm -rf "$ROOTFS"
say "imported $BASE"
