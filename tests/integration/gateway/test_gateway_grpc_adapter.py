"""The gRPC adapter of the TaskService port against an in-process gRPC task service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.domain import (
    ALL_FIELDS,
    InvalidInput,
    TaskFields,
    TaskServiceUnavailable,
)
from tests.support.client import send_task_mutation
from tests.support.fake_task_server import FakeTaskServicer, serve

pytestmark = pytest.mark.integration

RECEIVE_LIMIT = 8 * 1024 * 1024
IDS_ONLY = TaskFields(message=False, binary_code=False)


@pytest.fixture
async def servicer() -> AsyncIterator[FakeTaskServicer]:
    yield FakeTaskServicer()


@pytest.fixture
async def address(servicer: FakeTaskServicer) -> AsyncIterator[str]:
    server, port = await serve(servicer)
    yield f"127.0.0.1:{port}"
    await server.stop(grace=None)


@pytest.fixture
async def channel(address: str) -> AsyncIterator[grpc.aio.Channel]:
    channel = open_channel(address, RECEIVE_LIMIT)
    yield channel
    await channel.close()


@pytest.fixture
def tasks(channel: grpc.aio.Channel) -> GrpcTaskService:
    return GrpcTaskService(channel, timeout_seconds=5)


async def test_send_tasks_streams_every_message_in_one_call_and_keeps_the_order(
    tasks: GrpcTaskService, servicer: FakeTaskServicer
) -> None:
    messages = [f"message {i} é🦀" for i in range(300)]

    stored = await tasks.send_tasks(messages)

    assert [task.message for task in stored] == messages
    assert servicer.streams == 1
    assert all(task.created_at.utcoffset() is not None for task in stored)
    assert not any(task.processed for task in stored)


async def test_the_messages_sent_are_given_back_though_the_reply_leaves_them_out(
    tasks: GrpcTaskService,
) -> None:
    messages = [f"{i:04d}" + "x" * 65532 for i in range(1000)]  # 64 MiB, the maximum

    stored = await tasks.send_tasks(messages)

    assert [task.message for task in stored] == messages
    assert all(task.message is sent for task, sent in zip(stored, messages, strict=True))


async def test_a_page_larger_than_grpcs_default_limit_is_received(tasks: GrpcTaskService) -> None:
    await tasks.send_tasks(["x" * 65536] * 100)

    page = await tasks.list_tasks(100, 0, ALL_FIELDS)  # a TaskList of about 6.5 MiB

    assert [len(task.message) for task in page] == [65536] * 100


async def test_a_page_over_the_gateways_receive_limit_says_how_to_ask_for_less(
    tasks: GrpcTaskService,
) -> None:
    await tasks.send_tasks(["x" * 65536] * 130)  # a TaskList of about 8.1 MiB

    with pytest.raises(InvalidInput, match=r"ask for fewer tasks \(a smaller limit\)"):
        await tasks.list_tasks(130, 0, ALL_FIELDS)
    assert len(await tasks.list_tasks(130, 0, IDS_ONLY)) == 130


async def test_reads_ask_for_the_fields_given(
    tasks: GrpcTaskService, servicer: FakeTaskServicer
) -> None:
    [task] = await tasks.send_tasks(["hello"])

    [listed] = await tasks.list_tasks(10, 0, IDS_ONLY)
    found = await tasks.get_task(task.id, TaskFields(binary_code=False))

    assert (listed.id, listed.message) == (task.id, "")
    assert found.message == "hello"
    assert [(r.fields.message, r.fields.binary_code) for r in servicer.reads] == [
        (False, False),
        (True, False),
    ]


async def test_a_task_service_that_does_not_answer_in_time_is_unavailable(
    channel: grpc.aio.Channel, servicer: FakeTaskServicer
) -> None:
    servicer.hang.set()
    tasks = GrpcTaskService(channel, timeout_seconds=0.2)

    with pytest.raises(TaskServiceUnavailable):
        await tasks.send_tasks(["hello"])


async def test_the_gateway_serves_graphql_through_the_grpc_adapter(
    tasks: GrpcTaskService,
) -> None:
    app = create_app(tasks, {"task_service": tasks.ping})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        sent = await http.post(
            "/query",
            json={
                "query": send_task_mutation("id message"),
                "variables": {"m": ["hello", "world"]},
            },
        )
        missing = await http.post(
            "/query",
            json={"query": '{ task(id: "00000000-0000-0000-0000-000000000000") { id } }'},
        )
        health = await http.get("/health")

    assert [t["message"] for t in sent.json()["data"]["sendTask"]] == ["hello", "world"]
    assert missing.json() == {"data": {"task": None}}
    assert health.status_code == 200
