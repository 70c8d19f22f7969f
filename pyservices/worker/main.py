"""Composition root of the worker: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle, tracing
from pyservices.worker.bootstrap import build
from pyservices.worker.settings import WorkerSettings


async def run(settings: WorkerSettings, stop: asyncio.Event) -> None:
    tracing.configure_tracing("binconv-worker", ("grpc_client",))
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("worker", WorkerSettings(), run)
