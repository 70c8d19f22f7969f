"""`just bench-tracing`: what tracing costs. The peer benchmark's two workloads on this
pipeline with tracing off (no endpoint), sampling 1 % and sampling everything, rounds of
the three in turn, each on fresh servers, exporting to a sink that only counts
(bench/otlp_sink.py) so that the figures are the services' cost and not a backend's.
Prints the ranges; saves bench/results/tracing.json and re-renders the README."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import machine, readme
from bench.peers import pipeline, workloads
from bench.peers.runner import run_system
from bench.peers.servers import Servers
from bench.peers.system import System
from bench.tracing_report import MODES, Mode, table
from devstack.infra import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "tracing.json"


def _wait_listening(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def _sink(base: Path) -> Iterator[tuple[str, Path]]:
    port, report = free_port(), base / "otlp-sink.json"
    base.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.otlp_sink", "--port", str(port), "--report", str(report)]
    )
    try:
        _wait_listening(port, 10)
        yield f"http://127.0.0.1:{port}", report
    finally:
        process.terminate()
        process.wait(10)


def system(mode: Mode, exported: dict[str, Any]) -> System:
    @contextlib.contextmanager
    def start(base: Path, servers: Servers) -> Iterator[pipeline.PipelineDeployment]:
        if mode.sampler_ratio is None:
            with pipeline.start(base, servers) as deployment:
                yield deployment
            return
        with _sink(base) as (endpoint, report):
            environment = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(mode.sampler_ratio),
            }
            with pipeline.start(base, servers, environment) as deployment:
                yield deployment
        exported.update(json.loads(report.read_text()))

    return System(
        name=mode.name,
        label=f"tracing {mode.label()}",
        guarantees=pipeline.PIPELINE.guarantees,
        start=start,
    )


def run(rounds: int, sizes: workloads.Sizes) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {mode.name: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="binconv-tracing-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user under root
        for number in range(rounds):
            # Each round in another order, so that no mode always runs on a warmer machine.
            order = MODES[number % len(MODES) :] + MODES[: number % len(MODES)]
            for mode in order:
                exported: dict[str, Any] = {}
                base = Path(directory) / f"{mode.name}-{number}"
                figures = run_system(system(mode, exported), base, sizes)
                figures["exported"] = exported
                runs[mode.name].append(figures)
                print(f"round {number + 1}, {mode.name}: {_line(figures)}", flush=True)
    return runs


def _line(figures: dict[str, Any]) -> str:
    services = figures["cpu_seconds"]["services"] + figures["cpu_seconds"]["workers"]
    return (
        f"median {figures['median_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"{figures['tasks_per_second']:,.0f} tasks/s, services' CPU "
        f"{services * 1000 / figures['tasks']:.2f} s per 1,000 tasks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench-tracing")
    parser.add_argument("--rounds", type=int, default=3)
    workloads.Sizes.add_arguments(parser)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    sizes = workloads.Sizes.from_arguments(args)
    load_average = list(os.getloadavg())
    runs = run(args.rounds, sizes)
    result = {
        "machine": machine.describe({}),
        "commit": machine.commit(),
        "load_average": load_average,
        "load_average_after": list(os.getloadavg()),
        "sizes": asdict(sizes),
        "runs": runs,
    }
    print(table(result))
    if not args.no_save:
        RESULT.write_text(json.dumps(result, indent=2) + "\n")
        readme.main()


if __name__ == "__main__":
    main()
