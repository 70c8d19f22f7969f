"""End-to-end benchmark against a running stack (`just up` in another terminal).

1. Latency: tasks sent in batches, one batch at a time; for each task the time from the
   `sendTask` response to its WebSocket event. Median and p99.
2. Throughput: many tasks in batches from several concurrent clients; tasks per second
   from the first request to the last WebSocket event.

Prints a table, saves bench/results/e2e.json and renders it into docs/benchmarks.md and
the README (bench.readme).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench import e2e_report, readme
from binconv import reference
from tests.support.client import GraphQLClient, ResultFeed, result_feed

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figures:
    latency_tasks: int
    latency_batch: int
    median_ms: float
    p99_ms: float
    max_ms: float
    throughput_tasks: int
    throughput_batch: int
    clients: int
    tasks_per_second: float
    seconds: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _arrival_times(feed: ResultFeed, ids: set[str], seconds: float) -> dict[str, float]:
    await feed.wait_for(ids, seconds)
    return {task_id: feed.first_arrival[task_id] for task_id in ids}


async def measure_latency(
    graphql: GraphQLClient, feed: ResultFeed, tasks: int, batch: int
) -> list[float]:
    latencies: list[float] = []
    for start in range(0, tasks, batch):
        messages = [f"latency {start + i} ✓" for i in range(batch)]
        sent = await graphql.send_tasks(messages)
        answered = time.perf_counter()
        arrived = await _arrival_times(feed, {t["id"] for t in sent}, 30)
        latencies += [(arrived[t["id"]] - answered) * 1000 for t in sent]
    return latencies


async def measure_throughput(
    graphql: GraphQLClient, feed: ResultFeed, tasks: int, batch: int, clients: int
) -> tuple[float, float]:
    batches = [[f"throughput {b}.{i}" for i in range(batch)] for b in range(tasks // batch)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for messages in batches:
        queue.put_nowait(messages)
    ids: set[str] = set()

    async def client() -> None:
        while not queue.empty():
            sent = await graphql.send_tasks(queue.get_nowait())
            ids.update(t["id"] for t in sent)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    arrived = await _arrival_times(feed, ids, 120)
    seconds = max(arrived.values()) - started
    return len(ids) / seconds, seconds


async def run(
    graphql_url: str,
    websocket_url: str,
    latency_tasks: int = 200,
    latency_batch: int = 20,
    throughput_tasks: int = 5000,
    throughput_batch: int = 100,
    clients: int = 8,
) -> Figures:
    limits = httpx.Limits(max_connections=clients * 2)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as http,
        result_feed(websocket_url) as feed,
    ):
        graphql = GraphQLClient(graphql_url, http)
        await measure_latency(graphql, feed, latency_batch, latency_batch)  # warm-up
        latencies = await measure_latency(graphql, feed, latency_tasks, latency_batch)
        rate, seconds = await measure_throughput(
            graphql, feed, throughput_tasks, throughput_batch, clients
        )
        sample = await graphql.tasks(limit=5)
        assert all(t["binaryCode"] == reference.encode(t["message"]) for t in sample)
    return Figures(
        latency_tasks=latency_tasks,
        latency_batch=latency_batch,
        median_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        throughput_tasks=throughput_tasks,
        throughput_batch=throughput_batch,
        clients=clients,
        tasks_per_second=rate,
        seconds=seconds,
    )


def table(figures: Figures) -> str:
    return e2e_report.table(asdict(figures))


def save(figures: Figures) -> None:
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "e2e.json").write_text(
        json.dumps({"machine": machine, "figures": asdict(figures)}, indent=2) + "\n"
    )
    readme.main()


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench-e2e")
    parser.add_argument("--graphql", default="http://127.0.0.1:8080/query")
    parser.add_argument("--websocket", default="ws://127.0.0.1:8082/ws")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks for the throughput run")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.graphql, args.websocket, throughput_tasks=args.tasks, clients=args.clients)
    )
    print(table(figures))
    save(figures)


if __name__ == "__main__":
    main()
