"""Composition root of the worker: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle
from pyservices.worker.bootstrap import build
from pyservices.worker.settings import WorkerSettings


async def run(settings: WorkerSettings, stop: asyncio.Event) -> None:
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("worker", WorkerSettings(), run)
