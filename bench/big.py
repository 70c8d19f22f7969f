"""The documented maximum: N requests of 1,000 messages of 64 KiB sent at once, beside a
steady stream of short tasks, each N on a fresh local stack (its own PostgreSQL and
RabbitMQ, the five services).

Per N it measures how long until all N requests are accepted and until every one of
their results has reached both WebSocket listeners (which keep only digests of codes),
the latency of the short tasks sent meanwhile, and each service's peak RSS against its
Kubernetes memory limit; then the fault suite's ledger checks every task. Prints the
tables, saves bench/results/big.json; `python -m bench.readme` copies them into the
README. `just bench-big`; `--output-dir` writes elsewhere.

The request, the digests, the limits, the load and the ledger are the fault suite's own
(tests/faults/maximum.py, tests/support/load.py, tests/faults/trial.py and ledger.py), so
run it from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import big_report, machine
from bench.big_requests import build_bodies, send_until_accepted
from bench.e2e import percentile
from devstack.stack import SERVICES
from tests.faults.ledger import Pipeline, install_outbox_audit
from tests.faults.maximum import (
    MAX_MESSAGE_BYTES,
    MAX_MESSAGES,
    memory_limits_mib,
    peak_rss_mib,
)
from tests.faults.trial import Trial, under_load
from tests.support.load import Request
from tests.support.processes import ServiceProcesses, fresh_stack

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
LOGS = ROOT / "artifacts" / "bench-big-logs"


@dataclass(frozen=True)
class Settings:
    requests: tuple[int, ...] = (1, 3, 10)  # maximum requests at once, one row each
    messages: int = MAX_MESSAGES  # per maximum request, each of MAX_MESSAGE_BYTES
    rate: float = 20  # short tasks per second
    batch: int = 2  # short tasks per sendTask
    listeners: int = 2
    lead_tasks: int = 20  # short tasks accepted before the maximum requests go
    short_timeout: float = 60  # a short sendTask unanswered this long counts as failed
    big_timeout: float = 600  # per attempt of a maximum request
    drain_seconds: float = 1800  # for every result of the maximum requests
    settle_seconds: float = 180  # for the ledger's last results


async def measure(
    stack: ServiceProcesses, pipeline: Pipeline, requests: int, settings: Settings
) -> dict[str, Any]:
    bodies = await asyncio.to_thread(build_bodies, requests, settings.messages)
    ports = stack.ports
    async with under_load(
        pipeline,
        ports.graphql_url,
        ports.websocket_url,
        "short",
        listeners=settings.listeners,
        keep_codes=False,
        settle_seconds=settings.settle_seconds,
        rate=settings.rate,
        batch=settings.batch,
        answer_seconds=settings.short_timeout,
    ) as trial:
        await trial.load.wait_accepted(settings.lead_tasks)
        print(f"  sending {requests} maximum request(s)", flush=True)
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=settings.big_timeout) as http:
            sent = await asyncio.gather(
                *(send_until_accepted(http, ports.graphql_url, body) for body in bodies)
            )
        accepted = max(request["accepted_at"] for request in sent) - started
        print(f"  all accepted in {accepted:.1f} s", flush=True)
        for request in sent:
            trial.also_accepted.update(request["tasks"])
        big = set(trial.also_accepted)
        await asyncio.gather(*(feed.wait_for(big, settings.drain_seconds) for feed in trial.feeds))
        delivered = time.perf_counter() - started
        print(f"  every result on every client in {delivered:.1f} s; checking", flush=True)
    assert trial.row is not None
    meanwhile = [r for r in trial.load.requests if started <= r.started < started + delivered]
    return {
        "requests": requests,
        "data_mib": requests * settings.messages * MAX_MESSAGE_BYTES / MIB,
        "accepted_s": accepted,
        "delivered_s": delivered,
        "refusals": sum(request["refusals"] for request in sent),
        "accepted_after_s": sorted(request["accepted_at"] - started for request in sent),
        "short": await short_tasks(pipeline.database_url, trial, meanwhile),
        "ledger": {  # every task, short ones from before and after the window included
            "short_sent": trial.row.sent,
            "short_refused": trial.row.refused,
            "accepted": trial.row.accepted,
            "processed": trial.row.processed,
            "lost": trial.row.lost,
            "duplicate_frames": trial.row.duplicates,
        },
    }


async def short_tasks(database_url: str, trial: Trial, requests: list[Request]) -> dict[str, Any]:
    """Latency of the short tasks of `requests`, to their frame on the first client,
    and the p50 and p99 of each stage (PostgreSQL's processed_at splits the wait after the
    answer; its clock and time.time() are the same machine's)."""
    accepted = [r for r in requests if r.outcome == "accepted"]
    arrival = trial.feeds[0].first_arrival
    wall = time.time() - time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id::text, extract(epoch FROM processed_at)::float8 AS at FROM tasks "
            "WHERE id = ANY($1::uuid[])",
            [task for r in accepted for task in r.task_ids],
        )
    finally:
        await connection.close()
    processed = {row["id"]: row["at"] - wall for row in rows}
    tasks = [(r, task) for r in accepted for task in r.task_ids]
    latencies = [(arrival[task] - r.started) * 1000 for r, task in tasks]
    stages = {
        "answered": [(r.ended - r.started) * 1000 for r, _ in tasks],
        "processed": [(processed[task] - r.ended) * 1000 for r, task in tasks],
        "on_websocket": [(arrival[task] - processed[task]) * 1000 for _, task in tasks],
    }
    return {
        "sent": sum(len(r.messages) for r in requests),
        "accepted": len(tasks),
        "refused": sum(len(r.messages) for r in requests if r.outcome == "refused"),
        "p50_ms": percentile(latencies, 0.5) if latencies else None,
        "p99_ms": percentile(latencies, 0.99) if latencies else None,
        "max_ms": max(latencies, default=None),
        **{
            f"stages_{name}_ms": {
                stage: percentile(values, cut) if values else None
                for stage, values in stages.items()
            }
            for name, cut in (("p50", 0.5), ("p99", 0.99))
        },
    }


def run_on_fresh_stack(base: Path, requests: int, settings: Settings) -> dict[str, Any]:
    name = base.name
    with fresh_stack(base, name) as (stack, _postgres, rabbitmq):
        asyncio.run(install_outbox_audit(stack.database_url))
        with ThreadPoolExecutor(len(SERVICES)) as starting:  # each declares the topology
            list(starting.map(stack.start, SERVICES))
        load_average = os.getloadavg()  # other work on the machine skews every figure
        pipeline = Pipeline(stack.database_url, rabbitmq, name)
        started = time.perf_counter()
        run = asyncio.run(measure(stack, pipeline, requests, settings))
        run["seconds"] = time.perf_counter() - started
        run["load_average"] = {"start": load_average, "end": os.getloadavg()}
        run["peak_rss_mib"] = peak_rss_mib(stack.running)
        run["limits_mib"] = memory_limits_mib()
        run["versions"] = asyncio.run(machine.server_versions(stack.database_url, rabbitmq))
    return run


def run(settings: Settings) -> dict[str, Any]:
    runs, commit = [], machine.commit()
    with tempfile.TemporaryDirectory(prefix="binconv-big-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user under root
        for row, requests in enumerate(settings.requests, 1):
            print(f"{requests} maximum request(s) at once, on a fresh stack", flush=True)
            base = Path(directory) / f"big_{row}_{requests}"
            try:
                runs.append(run_on_fresh_stack(base, requests, settings))
            finally:  # the services' logs, kept for a look after a surprise
                if (base / "logs").exists():
                    shutil.copytree(base / "logs", LOGS / base.name, dirs_exist_ok=True)
    return {
        "command": "python -m bench.big",
        "datetime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "machine": machine.describe(runs[0].pop("versions")),
        "settings": asdict(settings),
        "runs": [{k: v for k, v in r.items() if k != "versions"} for r in runs],
    }


def over_limits(result: dict[str, Any]) -> list[str]:
    return [
        f"{r['requests']} at once: {name} {peak:.0f} MiB > {limit:.0f} MiB"
        for r in result["runs"]
        for name, peak in r["peak_rss_mib"].items()
        if peak > (limit := r["limits_mib"][name.split("-")[0]])
    ]


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="just bench-big", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, nargs="+", default=list(defaults.requests))
    parser.add_argument("--messages", type=int, default=defaults.messages, help="per request")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="short tasks/s")
    parser.add_argument("--batch", type=int, default=defaults.batch, help="short tasks a call")
    parser.add_argument("--output-dir", type=Path, help="write big.json here instead")
    args = parser.parse_args(argv)
    settings = Settings(
        requests=tuple(args.requests), messages=args.messages, rate=args.rate, batch=args.batch
    )
    result = run(settings)
    print(f"\n{big_report.timing(result)}\n\n{big_report.memory(result)}\n")
    out = (args.output_dir or ROOT / "bench" / "results") / "big.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {out}; `python -m bench.readme` puts the tables in the README")
    if problems := over_limits(result):
        raise SystemExit("peak RSS over the memory limit: " + "; ".join(problems))


if __name__ == "__main__":
    main()
