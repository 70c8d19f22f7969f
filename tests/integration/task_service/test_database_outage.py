"""PostgreSQL stops and comes back: callers get UNAVAILABLE, then service resumes alone.

Uses a PostgreSQL server of its own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from devstack.infra import LocalPostgres
from pyservices.common.migrations import migrate
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from tests.integration.task_service.conftest import serve

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(own_postgres: LocalPostgres) -> AsyncIterator[Any]:
    migrate(own_postgres.url())
    pool = await create_pool(own_postgres.url(), max_size=4, command_timeout=2, connect_timeout=1)
    server, port = await serve(PostgresTaskRepository(pool, acquire_timeout=1))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
    await server.stop(grace=None)
    pool.terminate()


async def list_tasks(stub: Any) -> list[task_pb2.Task]:
    reply = await stub.GetTasks(task_pb2.GetTasksRequest(limit=10), timeout=5)
    return list(reply.tasks)


async def test_an_outage_is_unavailable_and_the_service_recovers_by_itself(
    stub: Any, own_postgres: LocalPostgres
) -> None:
    async def one() -> AsyncIterator[task_pb2.TaskMessages]:
        yield task_pb2.TaskMessages(messages=["before"])

    await stub.ReceiveTaskToProcess(one(), timeout=5)

    await asyncio.to_thread(own_postgres.stop)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await list_tasks(stub)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "database unavailable, retry"

    await asyncio.to_thread(own_postgres.start)
    # The pool drops connections the restart broke; a caller retrying soon succeeds.
    for _ in range(5):
        try:
            tasks = await list_tasks(stub)
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
    else:
        pytest.fail("the service did not recover after PostgreSQL came back")
    assert [t.message for t in tasks] == ["before"]
