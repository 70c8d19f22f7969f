"""Throughput with 1, 2 and 4 worker processes, each on a fresh local stack.

Starts its own PostgreSQL and RabbitMQ (temporary directory, free ports), runs the
throughput part of the end-to-end benchmark per worker count, prints a table, saves
bench/results/scaling.json and renders it into docs/benchmarks.md (bench.readme).
`just bench-scaling`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from bench import e2e, readme, scaling_report
from tests.support.processes import fresh_stack

ROOT = Path(__file__).resolve().parents[1]


def measure(workers: int, base: Path, tasks: int, run: int) -> float:
    with fresh_stack(base, f"scaling_{run}") as (stack, _, _):
        stack.start_all()
        for extra in range(2, workers + 1):
            stack.start("worker", instance=f"worker-{extra}")
        figures = asyncio.run(
            e2e.run(
                stack.ports.graphql_url,
                stack.ports.websocket_url,
                latency_tasks=20,
                throughput_tasks=tasks,
            )
        )
        return figures.tasks_per_second


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench-scaling")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="binconv-scaling-") as directory:
        os.chmod(directory, 0o755)
        for run, workers in enumerate(args.workers):
            results[workers] = measure(workers, Path(directory) / str(run), args.tasks, run)
            print(f"{workers} worker(s): {results[workers]:,.0f} tasks/s", flush=True)
    result = {"tasks": args.tasks, "tasks_per_second": results}
    (ROOT / "bench" / "results" / "scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    readme.main()
    print(scaling_report.table(result))


if __name__ == "__main__":
    main()
