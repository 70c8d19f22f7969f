# The index of everyday work. Run through ./justw on a fresh machine (it installs first).
set dotenv-load := false
set positional-arguments := true

venv_bin := justfile_directory() / ".venv/bin"
export PATH := venv_bin + ":" + env_var("PATH")

# list the recipes
default:
    @just --list

# start PostgreSQL, RabbitMQ and the five services locally; Ctrl-C stops all
up:
    python -m devstack up

# `just up` with tracing: the services export to a local receiver, traces at http://127.0.0.1:16686/
up-traces:
    python -m devstack up --traces

# only the OTLP receiver (127.0.0.1:4318) and the trace viewer (127.0.0.1:16686), spans in artifacts/traces/
traces *args:
    python -m devstack traces "$@"

# the whole test suite: Rust and Python, unit, integration, end to end, browser
test *args: lint test-rust
    python -m pytest "$@"

# only the fast unit tests (fakes at the ports)
test-unit *args:
    python -m pytest tests/unit "$@"

# Rust unit tests of the kernel
test-rust:
    cargo test --quiet --manifest-path binconv/Cargo.toml --lib

# every benchmark
bench: bench-kernel bench-e2e

# the conversion kernel: naive and best pure Python, NumPy, Rust, memory-write limit
bench-kernel:
    python -m bench.kernel

# the kernel under pytest-benchmark: measure HEAD, save it in .benchmarks/, compare with the last saved run
bench-compare *args:
    #!/usr/bin/env bash
    # `just bench-compare HEAD~1`: compare with the run saved at that commit instead (run this
    # recipe there first). pytest options may follow: `--benchmark-compare-fail=median:20%`
    # fails on a median 20% slower; `--benchmark-histogram=.benchmarks/kernel` draws SVGs.
    set -euo pipefail
    against=--benchmark-compare
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
        saved="[0-9][0-9][0-9][0-9]_$(git rev-parse --verify "$1^{commit}")"
        if ! compgen -G ".benchmarks/*/${saved}_*.json" >/dev/null; then
            echo "no run saved at $1: check it out and run just bench-compare there" >&2
            exit 2
        fi
        against="--benchmark-compare=$saved"
        shift
    fi
    python -m pytest tests/kernel/test_kernel_benchmarks.py --benchmark-only --benchmark-autosave "$against" "$@"

# the pipeline end to end, against a running stack (`just up` in another terminal)
bench-e2e *args:
    python -m bench.e2e "$@"

# end-to-end throughput with 1, 2 and 4 workers, each on a fresh local stack
bench-scaling:
    python -m bench.scaling

# a fixed rate of tasks for minutes on a fresh local stack: per-window latency, memory growth
bench-soak *args:
    python -m bench.soak "$@"

# 1, 3 and 10 maximum requests (1,000 x 64 KiB) at once beside short tasks, each on a fresh stack
bench-big *args:
    python -m bench.big "$@"

# the fault suite alone (kills, outages, hostile input), then its table into the README
reliability:
    python -m pytest -m faults tests/faults
    python -m bench.reliability
    python -m bench.readme

# this pipeline, Celery and Dramatiq, one after another on fresh local servers: latency, tasks/s, CPU per task
bench-peers *args:
    python -m bench.peers "$@"

# what tracing costs: off, sampling 1 % and 100 %, in rounds on fresh local servers
bench-tracing *args:
    python -m bench.tracing "$@"

# regenerate the gRPC stubs from protos/task.proto
proto:
    python -m grpc_tools.protoc -I protos --python_out=pyservices/common/proto --grpc_python_out=pyservices/common/proto --mypy_out=pyservices/common/proto protos/task.proto
    sed -i 's/^import task_pb2/from pyservices.common.proto import task_pb2/' pyservices/common/proto/task_pb2_grpc.py

# re-pin uv.lock after a dependency change in pyproject.toml (`just lock --upgrade`: newest releases)
lock *args:
    uv lock "$@"

# format Python and Rust
fmt:
    ruff format pyservices devstack tests bench examples
    ruff check --fix pyservices devstack tests bench examples
    cargo fmt --manifest-path binconv/Cargo.toml

# lint Python and Rust
lint:
    ruff format --check pyservices devstack tests bench examples
    ruff check pyservices devstack tests bench examples
    mypy  # pyservices, devstack, tests, bench and examples: the files list in pyproject.toml
    cargo fmt --manifest-path binconv/Cargo.toml --check
    cargo clippy --manifest-path binconv/Cargo.toml --all-targets -- -D warnings

# re-render every generated table (README.md and docs/benchmarks.md) from bench/results/*.json
readme:
    python -m bench.readme

# retake the README's screenshot of the page (the browser test against a real stack)
screenshot:
    UPDATE_DOCS_SCREENSHOT=1 python -m pytest tests/browser -k screenshots

# retake docs/screenshots/trace.png: one task's trace in the viewer, from a real stack with tracing on
trace-screenshot:
    UPDATE_DOCS_SCREENSHOT=1 python -m pytest tests/e2e/test_tracing.py -k screenshot
