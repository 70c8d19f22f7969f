#!/usr/bin/env bash
# Podman settings the container test needs on a machine like the CI one, as a drop-in
# (idempotent: rewritten only when it differs). Why each one:
#   runtime runc          crun fails on a kernel with hybrid cgroups (v1 + v2)
#   cgroup_manager        there is no systemd to manage cgroups
#   events_logger file    journald is absent too
#   network_backend       netavark, whose aardvark-dns lets services reach each other by
#                         name (Debian's podman falls back to CNI without a DNS plugin)
#   default_ulimits       podman's defaults exceed the host's hard limits, so no
#                         container could start
# A machine whose podman already runs containers does not need it; BINCONV_PODMAN_CONF=keep
# leaves its configuration alone.
set -euo pipefail

DROPIN=/etc/containers/containers.conf.d/50-binconv.conf
WANT='# Written by scripts/containers-conf.sh (binconv); see the comments there.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"'

[ "${BINCONV_PODMAN_CONF:-}" = "keep" ] && exit 0
command -v podman >/dev/null || exit 0
if [ -f "$DROPIN" ] && [ "$(cat "$DROPIN")" = "$WANT" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[containers-conf] run as root to write $DROPIN" >&2
  exit 0
fi
mkdir -p "$(dirname "$DROPIN")"
printf '%s\n' "$WANT" > "$DROPIN"
# CNI's default bridge holds netavark's default subnet (10.88.0.0/16) and its route would
# swallow the containers' traffic to the outside.
if ip link show cni-podman0 >/dev/null 2>&1; then
  ip link delete cni-podman0
fi
echo "[containers-conf] wrote $DROPIN" >&2
