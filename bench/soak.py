"""Soak: a fixed rate of tasks for minutes on a fresh local stack.

Starts its own PostgreSQL and RabbitMQ (temporary directory, free ports) and the five
services, then sends `--rate` tasks/s through GraphQL in requests of `--batch` messages
on a fixed schedule (tests/support/load.py, the fault suite's load): a slow response
never delays the next request, and a request that falls due while `--max-in-flight`
requests are still open is skipped and counted. A
WebSocket reader stamps each result frame as it arrives. Per window it reports tasks
sent, results arrived, throughput and latency (start of the `sendTask` call to arrival
of the result frame) and the memory (RSS and PSS) of every process; it checks that every
task arrived with its exact binary code. Prints the tables, saves bench/results/soak.json
and renders them into docs/benchmarks.md and the README (bench.readme). `just bench-soak`;
`--output-dir` writes soak.json and bench-soak.md elsewhere instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import readme
from bench.soak_figures import task_ids, totals, windows
from bench.soak_report import report, reproducing, total_pss
from devstack.stack import Ports
from tests.support.client import ResultFeed, result_feed
from tests.support.load import FixedRateLoad, graphql_sender
from tests.support.processes import fresh_stack

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    rate: float = 200  # tasks per second
    seconds: float = 120
    batch: int = 10  # messages per sendTask request
    window: float = 10  # seconds per reported window
    warmup: float = 10  # seconds at the same rate before the measured run
    max_in_flight: int = 64  # open requests; a request due beyond this is skipped
    drain_seconds: float = 60  # how long to wait for the last results

    @property
    def interval(self) -> float:
        return self.batch / self.rate


def process_tree_kib(root: int) -> dict[str, int]:
    """RSS and PSS of a process and all its descendants (RabbitMQ's script starts beam.smp,
    PostgreSQL's postmaster a process per connection). RSS counts a shared page in every
    process that maps it, PSS shares it out, so only PSS sums to what a tree really holds:
    PostgreSQL's RSS grows as each backend touches more of the same shared buffers."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    total, todo = {"rss": 0, "pss": 0}, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        total["rss"] += _proc_kib(f"/proc/{pid}/status", "VmRSS:")
        total["pss"] += _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:")
    return total


def _proc_kib(path: str, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def memory(pids: dict[str, int]) -> dict[str, dict[str, int]]:
    return {name: process_tree_kib(pid) for name, pid in pids.items()}


async def sample_each_window(
    load: FixedRateLoad, feed: ResultFeed, settings: Settings, pids: dict[str, int]
) -> list[dict[str, dict[str, int]]]:
    """At the end of each window of the running `load`: the memory of every process, and
    a progress line."""
    samples = []
    for end in range(1, math.ceil(settings.seconds / settings.window) + 1):
        await asyncio.sleep(max(0, load.start + end * settings.window - time.perf_counter()))
        samples.append(await asyncio.to_thread(memory, pids))
        ids = task_ids(load)
        print(
            f"{end * settings.window:6.0f} s: {len(ids)} tasks accepted, "
            f"{len(ids & feed.first_arrival.keys())} results, {total_pss(samples[-1])} PSS in all",
            flush=True,
        )
    return samples


async def _until_arrived(feed: ResultFeed, ids: set[str], seconds: float) -> None:
    """Until every id has arrived, or `seconds` pass (the caller counts what is lost)."""
    with contextlib.suppress(TimeoutError):
        await feed.wait_for(ids, seconds)


async def soak(ports: Ports, pids: dict[str, int], settings: Settings) -> dict[str, Any]:
    async with (
        graphql_sender(
            ports.graphql_url, answer_seconds=60, connections=settings.max_in_flight
        ) as send,
        result_feed(ports.websocket_url) as feed,
    ):

        def load(label: str) -> FixedRateLoad:
            return FixedRateLoad(
                send,
                label,
                rate=settings.rate,
                batch=settings.batch,
                max_in_flight=settings.max_in_flight,
            )

        warmup = load("warm-up")
        await warmup.run(settings.warmup)
        await _until_arrived(feed, task_ids(warmup), settings.drain_seconds)
        memory_start = await asyncio.to_thread(memory, pids)
        measured = load("soak")
        # The load's task runs first, so its schedule has started when the sampling reads it.
        _, samples = await asyncio.gather(
            measured.run(settings.seconds), sample_each_window(measured, feed, settings, pids)
        )
        await _until_arrived(feed, task_ids(measured), settings.drain_seconds)
        memory_end = await asyncio.to_thread(memory, pids)
    rows = windows(measured, feed, settings)
    for row, sample in zip(rows, samples, strict=False):  # the drain row has no sample
        row["memory_kib"] = sample
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "settings": asdict(settings),
        "totals": totals(measured, feed, settings)
        | {"warmup_lost": len(task_ids(warmup) - feed.first_arrival.keys())},
        "windows": rows,
        "memory_kib": {"start": memory_start, "end": memory_end},
    }


def save(result: dict[str, Any], json_path: Path, doc_path: Path | None) -> None:
    """The JSON, and the tables in `doc_path` (None: into the docs, by bench.readme)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if doc_path is None:
        readme.main()
        return
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(report(result) + "\n" + reproducing(result))


def run_on_fresh_stack(base: Path, settings: Settings) -> dict[str, Any]:
    with fresh_stack(base, "soak") as (stack, postgres, rabbitmq):
        stack.start_all()
        assert rabbitmq.process is not None
        pids = {name: process.pid for name, process in stack.running.items()}
        pids["postgresql"] = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
        pids["rabbitmq"] = rabbitmq.process.pid
        return asyncio.run(soak(stack.ports, pids, settings))


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="just bench-soak", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=defaults.rate, help="tasks per second")
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--batch", type=int, default=defaults.batch, help="messages a request")
    parser.add_argument("--window", type=float, default=defaults.window, help="seconds")
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds")
    parser.add_argument("--max-in-flight", type=int, default=defaults.max_in_flight)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=defaults.drain_seconds,
        help="how long to wait for the last results before counting the missing as lost",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="write soak.json and bench-soak.md here instead of bench/results and the docs",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        rate=args.rate,
        seconds=args.seconds,
        batch=args.batch,
        window=args.window,
        warmup=args.warmup,
        max_in_flight=args.max_in_flight,
        drain_seconds=args.drain_seconds,
    )
    with tempfile.TemporaryDirectory(prefix="binconv-soak-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user under root
        result = run_on_fresh_stack(Path(directory), settings)
    print(report(result))
    out = args.output_dir
    save(
        result,
        out / "soak.json" if out else ROOT / "bench" / "results" / "soak.json",
        out / "bench-soak.md" if out else None,
    )
    t = result["totals"]
    if t["lost"] or t["warmup_lost"] or t["wrong_codes"] or t["requests_failed"]:
        raise SystemExit(
            f"{t['lost']} tasks lost (and {t['warmup_lost']} in the warm-up), "
            f"{t['wrong_codes']} wrong codes, "
            f"{t['requests_failed']} failed requests: {t['errors']}"
        )


if __name__ == "__main__":
    main()
