"""What a read costs PostgreSQL: only the selected large fields, and a page only when its
fields fit the byte budget. Real tasks of the documented maximum size (a 64 KiB message,
a 512 KiB binary code), so both live out of line in the TOAST table, whose block reads
this transaction has made (`pg_stat_get_xact_blocks_fetched`) show what was read."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from pyservices.common.proto import task_pb2
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, fetch_page
from pyservices.task_service.domain import ALL_FIELDS, NewTask, ProcessedResult, TaskFields
from tests.integration.task_service.conftest import LIMITS, PAGES

pytestmark = pytest.mark.integration

MESSAGE_BYTES = 64 * 1024
TASK_BYTES = 9 * MESSAGE_BYTES  # the message and its binary code
BUDGET = 16 * 1024 * 1024
IDS_ONLY = TaskFields(message=False, binary_code=False)
TOAST_BLOCKS = """
SELECT pg_stat_get_xact_blocks_fetched(reltoastrelid) FROM pg_class WHERE oid = 'tasks'::regclass
"""


def big_message(seed: int) -> str:
    # Random letters, so PostgreSQL cannot compress the value into the row itself.
    return "".join(random.Random(seed).choices("abcdefghijklmnopqrstuvwxyz", k=MESSAGE_BYTES))


def code_of(message: str) -> str:
    return "".join(f"{byte:08b}" for byte in message.encode())


async def big_tasks(repository: PostgresTaskRepository, count: int) -> list[uuid.UUID]:
    """Tasks of the maximum size, processed; their ids newest first."""
    messages = [big_message(n) for n in range(count)]
    stored = await repository.add_tasks([NewTask(uuid.uuid4(), m) for m in messages])
    await repository.record_processed(
        [ProcessedResult(t.id, code_of(m)) for t, m in zip(stored, messages, strict=True)]
    )
    return [t.id for t in reversed(stored)]


async def toast_blocks_read(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(TOAST_BLOCKS))


class TestFieldSelection:
    async def test_a_list_of_ids_reads_no_message_and_no_binary_code(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        ids = await big_tasks(repository, 4)
        async with pool.acquire() as conn, conn.transaction():
            before = await toast_blocks_read(conn)
            rows = await fetch_page(conn, 10, 0, IDS_ONLY, BUDGET)
            after_ids = await toast_blocks_read(conn)
            await fetch_page(conn, 10, 0, TaskFields(message=False), BUDGET)
            after_codes = await toast_blocks_read(conn)

        assert [row["id"] for row in rows] == ids
        assert all(row["message"] == row["binary_code"] == "" for row in rows)
        assert after_ids == before
        # The control: reading the codes does show in the TOAST table.
        assert after_codes > after_ids

    async def test_a_page_lists_only_the_fields_asked_for_in_the_same_order(
        self, repository: PostgresTaskRepository
    ) -> None:
        ids = await big_tasks(repository, 2)
        codes = await repository.list_tasks(10, 0, TaskFields(message=False), BUDGET)
        whole = await repository.list_tasks(10, 0, ALL_FIELDS, BUDGET)

        assert [t.id for t in codes.tasks] == [t.id for t in whole.tasks] == ids
        assert [t.message for t in codes.tasks] == ["", ""]
        assert [t.binary_code for t in codes.tasks] == [t.binary_code for t in whole.tasks]
        assert all(t.processed for t in codes.tasks)
        assert codes.sizes == [8 * MESSAGE_BYTES] * 2
        assert whole.sizes == [TASK_BYTES] * 2

    async def test_one_task_with_only_its_id(self, repository: PostgresTaskRepository) -> None:
        [task_id] = await big_tasks(repository, 1)
        task = await repository.get_task(task_id, IDS_ONLY)
        assert task is not None
        assert (task.id, task.message, task.binary_code, task.processed) == (task_id, "", "", True)


class TestByteBudget:
    async def test_a_page_over_the_budget_reads_only_the_sizes(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        await big_tasks(repository, 4)
        budget = 3 * TASK_BYTES
        async with pool.acquire() as conn, conn.transaction():
            before = await toast_blocks_read(conn)
            rows = await fetch_page(conn, 10, 0, ALL_FIELDS, budget)
            after = await toast_blocks_read(conn)

        assert [row["size"] for row in rows] == [TASK_BYTES] * 4
        assert all(row["message"] == row["binary_code"] == "" for row in rows)
        assert after == before

    async def test_a_page_exactly_at_the_budget_is_read_whole(
        self, repository: PostgresTaskRepository
    ) -> None:
        await big_tasks(repository, 4)
        page = await repository.list_tasks(3, 1, ALL_FIELDS, 3 * TASK_BYTES)
        assert [len(t.message) for t in page.tasks] == [MESSAGE_BYTES] * 3
        assert [len(t.binary_code) for t in page.tasks] == [8 * MESSAGE_BYTES] * 3

    async def test_sizes_are_utf8_bytes_not_characters(
        self, repository: PostgresTaskRepository
    ) -> None:
        await repository.add_tasks([NewTask(uuid.uuid4(), "é🦀")])
        page = await repository.list_tasks(1, 0, ALL_FIELDS, BUDGET)
        assert page.sizes == [6]


async def send(stub: Any, *texts: str) -> list[str]:
    async def chunks() -> AsyncIterator[task_pb2.TaskMessages]:
        yield task_pb2.TaskMessages(messages=texts)

    reply = await stub.ReceiveTaskToProcess(chunks(), timeout=10)
    return [task.id for task in reply.tasks]


async def record(stub: Any, ids: list[str], code: str) -> None:
    async def batch() -> AsyncIterator[task_pb2.ProcessedTaskBatch]:
        yield task_pb2.ProcessedTaskBatch(
            tasks=[task_pb2.ProcessedTask(id=task_id, binary_code=code) for task_id in ids]
        )

    [acks] = [answer async for answer in stub.SendProcessedTask(batch(), timeout=10)]
    assert len(acks.acks) == len(ids)


class TestOverGrpc:
    async def test_the_reply_to_new_tasks_leaves_the_messages_out_when_asked(
        self, stub: Any
    ) -> None:
        async def chunks() -> AsyncIterator[task_pb2.TaskMessages]:
            yield task_pb2.TaskMessages(messages=["a" * 64, "b"], omit_messages_in_reply=True)

        reply = await stub.ReceiveTaskToProcess(chunks(), timeout=10)

        assert [(t.message, t.binary_code) for t in reply.tasks] == [("", "")] * 2
        assert all(uuid.UUID(t.id) and t.created_at.seconds for t in reply.tasks)

    async def test_a_request_without_fields_gets_every_field_as_before(self, stub: Any) -> None:
        ids = await send(stub, "A")
        await record(stub, ids, "01000001")

        page = await stub.GetTasks(task_pb2.GetTasksRequest(limit=5), timeout=10)
        one = await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=ids[0]), timeout=10)

        assert [(t.message, t.binary_code) for t in page.tasks] == [("A", "01000001")]
        assert (one.message, one.binary_code, one.processed) == ("A", "01000001", True)

    async def test_a_request_with_fields_gets_only_those(self, stub: Any) -> None:
        ids = await send(stub, "A", "B")
        await record(stub, ids, "01000001")
        only_ids = task_pb2.TaskFields()

        page = await stub.GetTasks(task_pb2.GetTasksRequest(limit=5, fields=only_ids), timeout=10)
        codes = await stub.GetTasks(
            task_pb2.GetTasksRequest(limit=5, fields=task_pb2.TaskFields(binary_code=True)),
            timeout=10,
        )
        one = await stub.GetTaskByID(
            task_pb2.GetTaskByIDRequest(id=ids[0], fields=only_ids), timeout=10
        )

        assert [t.id for t in page.tasks] == ids[::-1]
        assert all(t.message == t.binary_code == "" and t.processed for t in page.tasks)
        assert [(t.message, t.binary_code) for t in codes.tasks] == [("", "01000001")] * 2
        assert (one.id, one.message, one.binary_code, one.processed) == (ids[0], "", "", True)

    async def test_a_page_over_the_budget_is_refused_with_the_limit_that_fits(
        self, stub: Any
    ) -> None:
        assert PAGES.max_bytes == 1024  # the servicer's budget; each task holds 64 + 512
        message = "x" * LIMITS.max_message_bytes
        ids = await send(stub, message, message, message)
        await record(stub, ids, code_of(message))

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetTasks(task_pb2.GetTasksRequest(limit=3), timeout=10)
        within = await stub.GetTasks(task_pb2.GetTasksRequest(limit=1, offset=2), timeout=10)

        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == (
            "this page holds 1.7 KiB of messages and binary codes, over the limit of 1 KiB: "
            "ask for at most 1 task (limit: 1) and page with offset, or select fewer fields"
        )
        assert [t.message for t in within.tasks] == [message]
