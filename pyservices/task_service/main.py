"""Composition root of the Task Service: settings, adapters, use cases, lifecycle."""

from __future__ import annotations

import asyncio

import asyncpg

from pyservices.common import lifecycle, ops
from pyservices.common.admission import LargeRequestGate
from pyservices.common.logging import get_logger
from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.settings import TaskServiceSettings

log = get_logger(__name__)


async def run(settings: TaskServiceSettings, stop: asyncio.Event) -> None:
    """Serve gRPC and the ops endpoints until `stop` is set, then drain and close."""
    pool = await create_pool(
        settings.database_url,
        max_size=settings.database_pool_max,
        command_timeout=settings.database_command_timeout_seconds,
        connect_timeout=settings.database_acquire_timeout_seconds,
    )
    tasks = PostgresTaskRepository(
        pool, settings.database_acquire_timeout_seconds, settings.insert_chunk_bytes
    )
    servicer = TaskServicer(
        tasks,
        settings.message_limits,
        settings.page_limits,
        settings.processed_batch_max,
        settings.processed_batch_bytes,
        settings.max_backlog_events,
        LargeRequestGate(settings.large_request_bytes, settings.large_requests_at_once),
    )
    server = build_server(servicer, settings.grpc_max_message_bytes)
    address = f"{settings.host}:{settings.task_service_port}"
    server.add_insecure_port(address)
    ops_app = ops.ops_app({"database": tasks.ping})
    # Starlette is an ASGI app; uvicorn's annotation is narrower than what it accepts.
    ops_server = ops.embedded_server(ops_app, settings.host, settings.metrics_port)
    ops_task = asyncio.create_task(ops_server.serve())
    try:
        await server.start()
        log.info("started", grpc=address, metrics_port=settings.metrics_port)
        await _warm_up(tasks, settings.database_pool_min)
        await stop.wait()
        log.info("stopping", grace_seconds=settings.shutdown_grace_seconds)
        # Refuses new calls, lets running ones finish within the grace, cancels the rest.
        await server.stop(settings.shutdown_grace_seconds)
    finally:
        ops_server.should_exit = True
        await ops_task
        await _close(pool, settings.shutdown_grace_seconds)
        log.info("stopped")


async def _warm_up(tasks: PostgresTaskRepository, connections: int) -> None:
    """Open a few connections now so the first requests do not pay for them."""
    results = await asyncio.gather(
        *(tasks.ping() for _ in range(connections)), return_exceptions=True
    )
    if any(isinstance(result, BaseException) for result in results):
        log.warning("database_unavailable_at_start")


async def _close(pool: asyncpg.Pool, grace: float) -> None:
    try:
        async with asyncio.timeout(grace):
            await pool.close()
    except TimeoutError:
        pool.terminate()


def main() -> None:
    lifecycle.run_service("task_service", TaskServiceSettings(), run)
