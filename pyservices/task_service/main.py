"""Composition root of the Task Service: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle, tracing
from pyservices.task_service.bootstrap import build
from pyservices.task_service.settings import TaskServiceSettings


async def run(settings: TaskServiceSettings, stop: asyncio.Event) -> None:
    """Serve gRPC and the ops endpoints until `stop` is set, then drain and close."""
    tracing.configure_tracing("binconv-task-service", ("grpc_server", "asyncpg"))
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("task_service", TaskServiceSettings(), run)
