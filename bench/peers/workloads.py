"""The two workloads, the same for every system.

Latency: batches one at a time (closed loop: the next after the last result of the one
before), each task timed from the start of the submit call to its result.
Throughput: batches from several clients at once, each client closed loop; tasks per
second from the first submit to the last result, and the CPU seconds every process of
the system spent meanwhile, by role, with the clients' own beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
from dataclasses import asdict, dataclass

import binconv
from bench.peers import cpu
from bench.peers.system import Client, Deployment, now

WARM_UP_SECONDS = 120  # the first batch also waits for the workers to come up


@dataclass(frozen=True)
class Sizes:
    latency_tasks: int = 200
    latency_batch: int = 20
    throughput_tasks: int = 5000
    throughput_batch: int = 100
    clients: int = 8

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """An option per size (`--latency-tasks` ...), defaulting to these."""
        for field, value in asdict(cls()).items():
            parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=value)

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Sizes:
        return cls(**{field: getattr(args, field) for field in asdict(cls())})


def _check(messages: list[str], codes: list[str]) -> None:
    wrong = [m for m, code in zip(messages, codes, strict=True) if code != binconv.encode(m)]
    if wrong:
        raise AssertionError(f"{len(wrong)} wrong results, first for {wrong[0]!r}")


async def warm_up(client: Client, deployment: Deployment, batch: int) -> None:
    messages = [f"warm-up {i} ✓" for i in range(batch)]
    try:
        async with asyncio.timeout(WARM_UP_SECONDS):
            arrivals = await client.convert(messages)
    except TimeoutError:
        deployment.check()
        raise
    _check(messages, [code for code, _ in arrivals])


async def latency(client: Client, sizes: Sizes) -> dict[str, float]:
    latencies: list[float] = []
    for start in range(0, sizes.latency_tasks, sizes.latency_batch):
        messages = [f"latency {start + i} ✓" for i in range(sizes.latency_batch)]
        submitted = now()
        arrivals = await client.convert(messages)
        _check(messages, [code for code, _ in arrivals])
        latencies += [(at - submitted) * 1000 for _, at in arrivals]
    return {
        "median_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


async def throughput(client: Client, deployment: Deployment, sizes: Sizes) -> dict[str, object]:
    batches = [
        [f"throughput {b}.{i}" for i in range(sizes.throughput_batch)]
        for b in range(sizes.throughput_tasks // sizes.throughput_batch)
    ]
    pending = iter(batches)
    last = 0.0

    async def one_client() -> None:
        nonlocal last
        for messages in pending:  # shared: each batch goes to whichever client is free
            arrivals = await client.convert(messages)
            last = max(last, *(at for _, at in arrivals))
            _check(messages, [code for code, _ in arrivals])

    roles = deployment.roles()
    before, client_before = cpu.by_role(roles), _own_cpu()
    started = now()
    await asyncio.gather(*(one_client() for _ in range(sizes.clients)))
    after, client_after = cpu.by_role(roles), _own_cpu()
    tasks = sum(len(batch) for batch in batches)
    seconds = last - started
    spent = {role: after[role] - before[role] for role in roles}
    return {
        "tasks": tasks,
        "seconds": seconds,
        "tasks_per_second": tasks / seconds,
        "cpu_seconds": spent,
        "cpu_seconds_per_1000": sum(spent.values()) * 1000 / tasks,
        "client_cpu_seconds_per_1000": (client_after - client_before) * 1000 / tasks,
    }


def _own_cpu() -> float:
    """CPU seconds of this process, every thread (the clients, and the result checks)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(deployment: Deployment, sizes: Sizes) -> dict[str, object]:
    async with deployment.connect(sizes.clients) as client:
        await warm_up(client, deployment, sizes.latency_batch)
        figures = await latency(client, sizes)
        return {**figures, **await throughput(client, deployment, sizes)}
