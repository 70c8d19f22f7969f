"""The composed service: gRPC, /health and /metrics, and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from devstack.infra import free_port
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.main import run
from pyservices.task_service.settings import TaskServiceSettings

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running(settings: TaskServiceSettings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    service = asyncio.create_task(run(settings, stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(service, 15)


async def health(settings: TaskServiceSettings) -> httpx.Response:
    """The first answer of /health once the ops server listens."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.metrics_port}") as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                return await http.get("/health")
            await asyncio.sleep(0.05)  # nothing to await: the port opens when it opens


def settings_for(database_url: str) -> TaskServiceSettings:
    return TaskServiceSettings(
        database_url=database_url,
        task_service_port=free_port(),
        metrics_port=free_port(),
        database_acquire_timeout_seconds=1,
        shutdown_grace_seconds=1,
    )


async def test_serves_grpc_health_and_metrics_then_stops_cleanly(database_url: str) -> None:
    settings = settings_for(database_url)
    async with running(settings) as service:
        response = await asyncio.wait_for(health(settings), 10)
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok"}
        address = f"127.0.0.1:{settings.task_service_port}"
        async with grpc.aio.insecure_channel(address) as channel:
            stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
            stream = (task_pb2.TaskMessages(messages=[m]) async for m in _aiter(["hi"]))
            reply = await stub.ReceiveTaskToProcess(stream, timeout=10, wait_for_ready=True)
            assert [(t.message, t.processed) for t in reply.tasks] == [("hi", False)]
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
        assert (
            'binconv_grpc_requests_total{code="OK",method="ReceiveTaskToProcess"}' in metrics.text
        )
        assert "binconv_tasks_created_total" in metrics.text
    assert service.done() and service.exception() is None


async def test_reports_unhealthy_while_the_database_is_down() -> None:
    settings = settings_for(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    async with running(settings):
        response = await asyncio.wait_for(health(settings), 10)
        assert response.status_code == 503
        assert response.json()["checks"]["database"].startswith("down")


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item
