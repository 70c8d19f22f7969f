#!/usr/bin/env bash
# Local stand-ins for the base images the Dockerfile and deploy/compose.yaml name, for a
# machine that reaches no container registry: each is made from Debian's packages with
# mmdebstrap and `podman import`, and mimics the official image's interface where the
# project uses it (python and pip in /usr/local/bin; POSTGRES_*; RABBITMQ_DEFAULT_*;
# a Rust toolchain under /usr/local/cargo). The Rust toolchain is this machine's own
# (Debian's rustc is older than the kernel needs) with Debian's packaged crates as the
# registry, since crates.io is not reachable either.
#
# Cached: an image is tagged with a hash of its recipe (the function below, the files it
# copies in, the toolchain's version), so a second run builds nothing and a changed
# recipe rebuilds only its image. Prints the overrides on stdout, one VAR=image a line:
#   eval "$(scripts/container-images.sh)"   # PYTHON_IMAGE, RUST_IMAGE, POSTGRES_IMAGE, ...
# Grafana has no Debian package and so no stand-in.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
STANDINS=scripts/standins
PREFIX=localhost/binconv-standin

log() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }

debootstrap_to_image() {  # tag, packages (comma list), then extra mmdebstrap arguments
  local tag=$1 packages=$2
  shift 2
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/usr/share/doc "$1"/usr/share/man' \
    "$@" "$SUITE" - "$MIRROR" \
    | podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      "${IMPORT_CHANGES[@]}" - "$tag" >/dev/null
}

python_image() {
  # python:3.11-slim-bookworm: the interpreter and pip first on PATH (a venv in /usr/local,
  # so pip installs there as in the official image), useradd for the Dockerfile.
  IMPORT_CHANGES=(--change 'CMD ["python3"]')
  debootstrap_to_image "$1" python3,python3-venv,ca-certificates,passwd \
    --customize-hook='chroot "$1" python3 -m venv /usr/local'
}

postgres_image() {
  IMPORT_CHANGES=(
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV PGDATA=/var/lib/postgresql/data'
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
    --change 'EXPOSE 5432'
  )
  debootstrap_to_image "$1" postgresql-15 \
    --customize-hook="upload $STANDINS/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" \
    --customize-hook='chmod 755 "$1"/usr/local/bin/docker-entrypoint.sh' \
    --customize-hook='mkdir -p "$1"/var/lib/postgresql/data && chroot "$1" chown -R postgres:postgres /var/lib/postgresql'
}

rabbitmq_image() {
  IMPORT_CHANGES=(
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
    --change 'EXPOSE 5672' --change 'EXPOSE 15672'
  )
  debootstrap_to_image "$1" rabbitmq-server \
    --customize-hook="upload $STANDINS/rabbitmq-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" \
    --customize-hook='chmod 755 "$1"/usr/local/bin/docker-entrypoint.sh' \
    --customize-hook='chroot "$1" rabbitmq-plugins --offline enable rabbitmq_management >/dev/null'
}

prometheus_image() {
  # prom/prometheus: the binary as entry point, the data in /prometheus, user nobody
  IMPORT_CHANGES=(
    --change 'ENTRYPOINT ["/usr/bin/prometheus"]'
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
    --change 'USER nobody'
    --change 'WORKDIR /prometheus'
    --change 'EXPOSE 9090'
  )
  debootstrap_to_image "$1" prometheus \
    --customize-hook='mkdir -p "$1"/prometheus && chroot "$1" chown nobody:nogroup /prometheus'
}

rust_image() {
  # Only what the Dockerfile copies from rust:*: /usr/local/cargo (here the toolchain
  # itself, rustc finds its libraries beside its binary) and /usr/local/rustup.
  local sysroot work
  sysroot=$(rustc --print sysroot)
  work=$(mktemp -d)
  mkdir -p "$work/usr/local/cargo/bin" "$work/usr/local/rustup"
  cp "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$work/usr/local/cargo/bin/"
  cp -a "$sysroot/lib" "$work/usr/local/cargo/"
  rm -rf "$work/usr/local/cargo/lib/rustlib/src" "$work/usr/local/cargo/lib/rustlib/components"
  cp -rL /usr/share/cargo/registry "$work/usr/local/cargo/debian-registry"
  cat > "$work/usr/local/cargo/config.toml" <<'TOML'
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "/usr/local/cargo/debian-registry"

[net]
offline = true
TOML
  tar -C "$work" -c usr | podman import --quiet - "$1" >/dev/null
  rm -rf "$work"
}

recipe_key() {  # name: a hash of what makes the image
  {
    declare -f debootstrap_to_image "${1}_image"
    echo "$SUITE $MIRROR"
    case $1 in
      postgres | rabbitmq) cat "$STANDINS/$1-entrypoint.sh" ;;
      rust) rustc -vV; ls /usr/share/cargo/registry ;;
    esac
  } | sha256sum | cut -c1-16
}

ensure() {  # name, variable: build the stand-in unless its tag exists; print VAR=image
  local name=$1 variable=$2 key tag
  key=$(recipe_key "$name")
  tag="$PREFIX-$name:$key"
  if ! podman image exists "$tag"; then
    log "building $tag"
    local started=$SECONDS
    "${name}_image" "$tag"
    log "built $tag in $((SECONDS - started)) s"
    # older keys of the same stand-in are only disk space now
    podman images --format '{{.Repository}}:{{.Tag}}' "$PREFIX-$name" \
      | grep -vx "$tag" | xargs -r podman rmi --force >/dev/null 2>&1 || true
  fi
  echo "$variable=$tag"
}

missing=()
for tool in podman mmdebstrap rustc; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -ne 0 ]; then
  log "missing: ${missing[*]} (scripts/setup.sh installs podman and mmdebstrap as root)"
  exit 1
fi

ensure python PYTHON_IMAGE
ensure rust RUST_IMAGE
ensure postgres POSTGRES_IMAGE
ensure rabbitmq RABBITMQ_IMAGE
ensure prometheus PROMETHEUS_IMAGE
