"""Soak: a fixed rate of tasks for minutes on a fresh local stack.

Starts its own PostgreSQL and RabbitMQ (temporary directory, free ports) and the five
services, then sends `--rate` tasks/s through GraphQL in requests of `--batch` messages
on a fixed schedule: a slow response never delays the next request, and a request that
falls due while `--max-in-flight` requests are still open is skipped and counted. A
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
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import readme
from bench.e2e import percentile
from bench.soak_report import report, reproducing, total_pss
from binconv import reference
from devstack.stack import Ports
from tests.support.client import GraphQLClient, ResultFeed, result_feed
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


@dataclass
class Request:
    due: float  # seconds after the start of the schedule
    lag: float  # seconds the call started after it was due
    started: float = 0.0  # perf_counter at the start of the sendTask call
    tasks: dict[str, str] = field(default_factory=dict)  # id -> message
    error: str | None = None


@dataclass
class Schedule:
    start: float
    requests: list[Request] = field(default_factory=list)
    skipped: list[float] = field(default_factory=list)  # due times of skipped requests

    def task_ids(self) -> set[str]:
        return {task_id for request in self.requests for task_id in request.tasks}


SendTasks = Callable[[list[str]], Awaitable[list[dict[str, str]]]]


async def _send(send_tasks: SendTasks, request: Request, messages: list[str]) -> None:
    request.started = time.perf_counter()
    try:
        sent = await send_tasks(messages)
    except Exception as exc:  # any failure is counted and reported; the schedule goes on
        request.error = repr(exc)
        return
    request.tasks = {task["id"]: task["message"] for task in sent}


async def dispatch_at_fixed_rate(
    send_tasks: SendTasks, settings: Settings, seconds: float, label: str, schedule: Schedule
) -> set[asyncio.Task[None]]:
    """Starts each request when it is due, never waiting for earlier answers; returns the
    requests still open when the schedule ends."""
    in_flight: set[asyncio.Task[None]] = set()
    for k in range(round(seconds / settings.interval)):
        due = k * settings.interval
        delay = schedule.start + due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself: open-loop load
        if len(in_flight) >= settings.max_in_flight:
            schedule.skipped.append(due)
            continue
        request = Request(due, time.perf_counter() - schedule.start - due)
        schedule.requests.append(request)
        messages = [f"{label} {k}.{i} ✓" for i in range(settings.batch)]
        task = asyncio.create_task(_send(send_tasks, request, messages))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    return in_flight


async def send_at_fixed_rate(
    send_tasks: SendTasks, settings: Settings, seconds: float, label: str, schedule: Schedule
) -> None:
    await asyncio.gather(
        *await dispatch_at_fixed_rate(send_tasks, settings, seconds, label, schedule)
    )


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
    schedule: Schedule, feed: ResultFeed, settings: Settings, pids: dict[str, int]
) -> list[dict[str, dict[str, int]]]:
    """At the end of each window: the memory of every process, and a progress line."""
    samples = []
    for end in range(1, math.ceil(settings.seconds / settings.window) + 1):
        await asyncio.sleep(max(0, schedule.start + end * settings.window - time.perf_counter()))
        samples.append(await asyncio.to_thread(memory, pids))
        ids = schedule.task_ids()
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


def windows(schedule: Schedule, feed: ResultFeed, settings: Settings) -> list[dict[str, Any]]:
    """Requests by the window they were due in (with their tasks' latencies), results by
    the window they arrived in; results after the last window make a final drain row."""
    count = math.ceil(settings.seconds / settings.window)
    bounds = [
        (i * settings.window, min((i + 1) * settings.window, settings.seconds))
        for i in range(count)
    ]
    sent, late, skipped, completed = [0] * count, [0] * count, [0] * count, [0] * (count + 1)
    latencies: list[list[float]] = [[] for _ in range(count)]
    for request in schedule.requests:
        index = min(int(request.due // settings.window), count - 1)
        sent[index] += len(request.tasks)
        late[index] += request.lag > settings.interval
        latencies[index] += [
            (feed.first_arrival[task_id] - request.started) * 1000
            for task_id in request.tasks
            if task_id in feed.first_arrival
        ]
    for due in schedule.skipped:
        skipped[min(int(due // settings.window), count - 1)] += 1
    last = settings.seconds
    for task_id in schedule.task_ids() & feed.first_arrival.keys():
        at = feed.first_arrival[task_id] - schedule.start
        completed[
            min(int(at // settings.window), count - 1) if at < settings.seconds else count
        ] += 1
        last = max(last, at)
    rows: list[dict[str, Any]] = [
        {
            "from_s": start,
            "to_s": end,
            "tasks_sent": sent[i],
            "requests_late": late[i],
            "requests_skipped": skipped[i],
            "tasks_completed": completed[i],
            "tasks_per_second": completed[i] / (end - start),
            "p50_ms": percentile(latencies[i], 0.5) if latencies[i] else None,
            "p99_ms": percentile(latencies[i], 0.99) if latencies[i] else None,
        }
        for i, (start, end) in enumerate(bounds)
    ]
    if completed[count]:
        rows.append(
            {"from_s": settings.seconds, "to_s": last, "drain": True}
            | {"tasks_completed": completed[count]}
        )
    return rows


def totals(schedule: Schedule, feed: ResultFeed, settings: Settings) -> dict[str, Any]:
    tasks = {task_id: m for request in schedule.requests for task_id, m in request.tasks.items()}
    arrived = tasks.keys() & feed.first_arrival.keys()
    latencies = [
        (feed.first_arrival[task_id] - request.started) * 1000
        for request in schedule.requests
        for task_id in request.tasks
        if task_id in feed.first_arrival
    ]
    last = max((feed.first_arrival[i] - schedule.start for i in arrived), default=0.0)
    seconds = max(last, settings.seconds)  # the offered load spans the whole schedule
    return {
        "requests_due": len(schedule.requests) + len(schedule.skipped),
        "requests_failed": sum(r.error is not None for r in schedule.requests),
        "requests_late": sum(r.lag > settings.interval for r in schedule.requests),
        "requests_skipped": len(schedule.skipped),
        "max_lag_ms": max((r.lag * 1000 for r in schedule.requests), default=0.0),
        "errors": sorted({r.error for r in schedule.requests if r.error})[:5],
        "tasks_sent": len(tasks),
        "tasks_arrived": len(arrived),
        "lost": len(tasks) - len(arrived),
        "duplicate_frames": feed.duplicates(),
        "wrong_codes": sum(
            frame["binaryCode"] != reference.encode(tasks[frame["id"]])
            for frame in feed.frames
            if frame["id"] in tasks
        ),
        "tasks_per_second": len(arrived) / seconds,
        "p50_ms": percentile(latencies, 0.5) if latencies else None,
        "p99_ms": percentile(latencies, 0.99) if latencies else None,
    }


async def soak(ports: Ports, pids: dict[str, int], settings: Settings) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=settings.max_in_flight)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as http,
        result_feed(ports.websocket_url) as feed,
    ):
        send_tasks = GraphQLClient(ports.graphql_url, http).send_tasks
        warmup = Schedule(time.perf_counter())
        await send_at_fixed_rate(send_tasks, settings, settings.warmup, "warm-up", warmup)
        await _until_arrived(feed, warmup.task_ids(), settings.drain_seconds)
        memory_start = await asyncio.to_thread(memory, pids)
        schedule = Schedule(time.perf_counter())
        _, samples = await asyncio.gather(
            send_at_fixed_rate(send_tasks, settings, settings.seconds, "soak", schedule),
            sample_each_window(schedule, feed, settings, pids),
        )
        await _until_arrived(feed, schedule.task_ids(), settings.drain_seconds)
        memory_end = await asyncio.to_thread(memory, pids)
    rows = windows(schedule, feed, settings)
    for row, sample in zip(rows, samples, strict=False):  # the drain row has no sample
        row["memory_kib"] = sample
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "settings": asdict(settings),
        "totals": totals(schedule, feed, settings)
        | {"warmup_lost": len(warmup.task_ids() - feed.first_arrival.keys())},
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
