"""What a benchmark ran on, saved beside its figures: CPU, cores, system, Python, the
PostgreSQL and RabbitMQ of its fresh stack, and the commit."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import asyncpg

from devstack.infra import REPO, LocalRabbitMQ


async def server_versions(database_url: str, rabbitmq: LocalRabbitMQ) -> dict[str, str]:
    connection = await asyncpg.connect(database_url)
    try:
        postgresql = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    rabbitmq_version = await asyncio.to_thread(rabbitmq.ctl, "version")
    return {"postgresql": postgresql.split()[0], "rabbitmq": rabbitmq_version.strip()}


def describe(versions: dict[str, str]) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions,
    }


def commit() -> str:
    """The short hash of HEAD, "+changes" when the services' code differs from it (the
    processes run the working tree)."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown"
    changed = _git("status", "--porcelain", "--", "pyservices", "binconv", "migrations")
    return f"{head}+changes" if changed else head


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
    return done.stdout.strip()
