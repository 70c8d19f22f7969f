"""`just bench-peers`: each system on its own fresh servers, one after another, both
workloads; prints the table and saves bench/results/peers.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import machine, readme
from bench.peers import report, workloads
from bench.peers.celery_peer import DATABASE, RPC
from bench.peers.dramatiq_peer import DRAMATIQ
from bench.peers.pipeline import PIPELINE
from bench.peers.servers import Servers
from bench.peers.system import System

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "bench" / "results" / "peers.json"
SYSTEMS = {system.name: system for system in (PIPELINE, RPC, DATABASE, DRAMATIQ)}


def run_system(
    system: System, base: Path, sizes: workloads.Sizes, servers: Servers | None = None
) -> dict[str, Any]:
    """Both workloads on `system`, on `servers` or on fresh ones of its own under `base`."""
    with contextlib.ExitStack() as stack:
        if servers is None:
            servers = stack.enter_context(Servers(base))
        deployment = stack.enter_context(system.start(base, servers))
        figures = asyncio.run(workloads.measure(deployment, sizes))
    return {
        "name": system.name,
        "label": system.title(),
        "guarantees": system.guarantees,
        "note": system.note,
        **figures,
    }


def run(systems: list[System], sizes: workloads.Sizes) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="binconv-peers-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user under root
        return [run_system(system, Path(directory) / system.name, sizes) for system in systems]


def versions() -> dict[str, str]:
    found = {name: version(name) for name in ("celery", "dramatiq", "aio-pika")}
    for package in ("postgresql", "rabbitmq-server", "redis-server"):
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True
        )
        found[package] = done.stdout.strip() or "?"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench-peers")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    workloads.Sizes.add_arguments(parser)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    sizes = workloads.Sizes.from_arguments(args)
    load_average = list(os.getloadavg())
    systems = run([SYSTEMS[name] for name in args.systems], sizes)
    result = {
        "machine": machine.describe({}),
        "versions": versions(),
        "commit": machine.commit(),
        "load_average": load_average,
        # The machine may be shared: how busy it was at the start and at the end.
        "load_average_after": list(os.getloadavg()),
        "sizes": asdict(sizes),
        "systems": systems,
    }
    print(report.table(result))
    if not args.no_save:
        RESULT.write_text(json.dumps(result, indent=2) + "\n")
        readme.main()
