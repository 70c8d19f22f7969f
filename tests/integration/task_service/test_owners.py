"""Owners on the real stack's side: the owner's page is read through its index, even by
the generic plan of a prepared statement, and the gRPC requests' `owner` filters."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import grpc
import pytest

from pyservices.common.proto import task_pb2
from pyservices.task_service.adapters.postgres import LIST_OWNER_TASKS, PostgresTaskRepository
from pyservices.task_service.domain import NewTask

pytestmark = pytest.mark.integration


async def test_an_owners_page_is_read_through_its_index(
    repository: PostgresTaskRepository, pool: asyncpg.Pool
) -> None:
    for owner in ("alice", "bob", None):
        await repository.add_tasks([NewTask(uuid.uuid4(), f"m{n}", owner) for n in range(200)])
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE tasks")
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("SET enable_seqscan = off")  # a tiny table: make the index's case
        await conn.execute(f"PREPARE owner_page AS {LIST_OWNER_TASKS}")
        plan = await conn.fetch("EXPLAIN EXECUTE owner_page(10, 0, true, true, 1000000, 'bob')")
    lines = [row[0].strip() for row in plan]
    below_limit = lines[next(n for n, line in enumerate(lines) if "Limit" in line) + 1]
    # The page is the first rows of the index, in its order: no sort of the owner's tasks.
    assert "Index Scan using tasks_owner_newest_first" in below_limit


async def test_grpc_owner_filters_lists_and_gets(stub: Any) -> None:
    def chunk(owner: str) -> Any:
        async def send() -> Any:
            yield task_pb2.TaskMessages(messages=["x", "y"], owner=owner)

        return send()

    alice = (await stub.ReceiveTaskToProcess(chunk("alice"))).tasks
    bob = (await stub.ReceiveTaskToProcess(chunk("bob"))).tasks
    unowned = (await stub.ReceiveTaskToProcess(chunk(""))).tasks

    listed = await stub.GetTasks(task_pb2.GetTasksRequest(limit=10, owner="alice"))
    assert [t.id for t in listed.tasks] == [t.id for t in reversed(alice)]
    everything = await stub.GetTasks(task_pb2.GetTasksRequest(limit=10))
    assert len(everything.tasks) == 6  # open mode: every task
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=bob[0].id, owner="alice"))
    unknown_id = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=unknown_id, owner="alice"))
    assert foreign.value.code() == unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert foreign.value.details() == unknown.value.details().replace(unknown_id, bob[0].id)
    found = await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=bob[0].id, owner="bob"))
    assert found.message == "x"
    assert (await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=unowned[0].id))).id
