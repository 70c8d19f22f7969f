#!/usr/bin/env bash
# Installs everything the project needs on a Debian-like machine, idempotently:
#   1. system packages (PostgreSQL, RabbitMQ, PyO3 from Debian's Rust registry, Chromium,
#      podman and mmdebstrap for tests/containers) and, as root, the podman settings that
#      test needs (scripts/containers-conf.sh says why)
#   2. cargo source replacement to Debian's registry when that registry holds the crates
#      (chosen here, written to the untracked .cargo/config.toml, never forced on users
#      who reach crates.io: set BINCONV_CRATES=crates-io to skip it)
#   3. .venv with exactly the versions in uv.lock and the project installed editable (the
#      Rust kernel built in release mode); a lock out of date with pyproject.toml stops here
# A stamp of the inputs' hash makes a second run a no-op.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(postgresql rabbitmq-server librust-pyo3-dev chromium fonts-dejavu-core fonts-noto-color-emoji)
# tests/containers: podman runs the compose file (runc: crun fails on hybrid cgroups;
# netavark + aardvark-dns: services find each other by name), mmdebstrap makes the base
# images from Debian's packages where no registry is reachable
APT_PACKAGES+=(podman runc netavark aardvark-dns iptables mmdebstrap)
# just bench-peers: Dramatiq's result store
APT_PACKAGES+=(redis-server)
VENV=.venv
# uv reads and writes uv.lock; one version everywhere, so the lock means the same to all.
UV_VERSION=0.13.9

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "missing system packages: ${missing[*]} (install them with your package manager)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages; run: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_cargo_source() {
  local registry=/usr/share/cargo/registry
  mkdir -p .cargo
  if [ "${BINCONV_CRATES:-}" != "crates-io" ] && ls -d "$registry"/pyo3-0.* >/dev/null 2>&1; then
    cat > .cargo/config.toml <<TOML
# Written by scripts/setup.sh: crates come from Debian's packaged registry.
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$registry"

[net]
offline = true
TOML
  else
    rm -f .cargo/config.toml
  fi
}

inputs_hash() {
  cat pyproject.toml uv.lock Cargo.toml binconv/Cargo.toml scripts/setup.sh .cargo/config.toml \
    $(find binconv/src -type f | sort) 2>/dev/null \
    | sha256sum | cut -d' ' -f1
}

install_python_env() {
  local stamp="$VENV/.setup-stamp" want
  want=$(inputs_hash)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  local uv="$VENV/bin/uv"
  if ! "$uv" lock --check --quiet; then
    log "uv.lock is missing or out of date with pyproject.toml: run '$uv lock' (what 'just lock' does), then commit uv.lock"
    exit 1
  fi
  log "installing the locked versions and the project into $VENV (builds the Rust kernel)"
  # First the locked tools, maturin among them, since the project is built with the
  # environment's own maturin (no build isolation); then the project, and the sync is
  # exact: a package the lock no longer holds is removed (pip and uv itself stay).
  UV_PROJECT_ENVIRONMENT="$VENV" "$uv" sync --quiet --locked --extra dev --no-install-project --inexact
  UV_PROJECT_ENVIRONMENT="$VENV" "$uv" sync --quiet --locked --extra dev
  echo "$want" > "$stamp"
}

install_system_packages
[ "$(id -u)" -ne 0 ] || bash scripts/containers-conf.sh
configure_cargo_source
install_python_env

if [ "${1:-}" = "--then-just" ]; then
  shift
  export PATH="$PWD/$VENV/bin:$PATH"
  exec just "$@"
fi
