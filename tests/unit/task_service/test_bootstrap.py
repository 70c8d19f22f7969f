"""The Task Service as bootstrap wires it, with a fake repository, run by the lifecycle."""

from __future__ import annotations

import asyncio

import grpc

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.common.ops import run_checks
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.bootstrap import build
from pyservices.task_service.settings import TaskServiceSettings
from tests.unit.task_service.fakes import FakeTaskRepository


async def test_serves_grpc_on_the_injected_repository_and_reports_its_health() -> None:
    repository = FakeTaskRepository()
    settings = TaskServiceSettings(
        task_service_port=free_port(), metrics_port=free_port(), shutdown_grace_seconds=1
    )
    service = build(settings, repository=repository)
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(service, stop))

    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.task_service_port}") as channel:
        stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
        reply = await stub.GetTasks(task_pb2.GetTasksRequest(), timeout=5, wait_for_ready=True)
    assert list(reply.tasks) == []
    assert await run_checks(service.checks) == (True, {"database": "ok"})

    repository.unavailable = True
    healthy, checks = await run_checks(service.checks)
    assert (healthy, checks) == (False, {"database": "down: RepositoryUnavailable"})

    stop.set()
    await asyncio.wait_for(running, 5)
    assert service.closing() == []  # an injected repository is the caller's to close
