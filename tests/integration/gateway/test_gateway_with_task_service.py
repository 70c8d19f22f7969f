"""The gateway's gRPC adapter and GraphQL app against the real task service (in-process)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.infra import free_port
from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.settings import GatewaySettings
from pyservices.task_service.main import run
from pyservices.task_service.settings import TaskServiceSettings
from tests.support.client import send_task_mutation

pytestmark = pytest.mark.integration


@pytest.fixture
async def tasks(database_url: str) -> AsyncIterator[GrpcTaskService]:
    port = free_port()
    settings = TaskServiceSettings(
        database_url=database_url, task_service_port=port, metrics_port=free_port()
    )
    stop = asyncio.Event()
    service = asyncio.create_task(run(settings, stop))
    channel = open_channel(f"127.0.0.1:{port}", GatewaySettings().grpc_max_receive_bytes)
    try:
        await asyncio.wait_for(channel.channel_ready(), 20)
        yield GrpcTaskService(channel, timeout_seconds=30)
    finally:
        await channel.close()
        stop.set()
        await asyncio.wait_for(service, 20)


async def test_a_thousand_messages_of_64_kib_fit_through_graphql(tasks: GrpcTaskService) -> None:
    messages = [f"{i:04d}" + "x" * (65536 - 4) for i in range(1000)]
    app = create_app(tasks, {})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway", timeout=60
    ) as http:
        response = await http.post(
            "/query",
            json={
                "query": send_task_mutation("id message"),
                "variables": {"m": messages},
            },
        )

    assert response.status_code == 200, response.text[:500]
    assert [t["message"][:4] for t in response.json()["data"]["sendTask"]] == [
        f"{i:04d}" for i in range(1000)
    ]


# GraphQL through the gateway app, the real task service and PostgreSQL, at the default
# limits: a page may carry 16 MiB of messages and codes (MAX_PAGE_BYTES).

BIG = 65536  # bytes of the largest message; its binary code is eight times that
SEND = send_task_mutation("id message binaryCode")


@pytest.fixture
async def gateway(tasks: GrpcTaskService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(tasks, {}))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway", timeout=60
    ) as http:
        yield http


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def graphql(http: httpx.AsyncClient, query: str, **variables: object) -> dict[str, Any]:
    response = await http.post("/query", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


async def processed_big_tasks(http: httpx.AsyncClient, db: asyncpg.Connection, count: int) -> None:
    """`count` tasks of the largest size, processed (their codes written directly)."""
    sent = await graphql(http, SEND, m=[f"{i:04d}" + "x" * (BIG - 4) for i in range(count)])
    assert "errors" not in sent
    await db.execute(
        "UPDATE tasks SET binary_code = repeat('01111000', octet_length(message)),"
        " processed_at = now(), updated_at = now()"
    )


async def test_a_list_of_ids_of_big_tasks_is_served_where_their_page_is_refused(
    gateway: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await processed_big_tasks(gateway, db, 40)  # 22.5 MiB with their codes

    ids = await graphql(gateway, "{ tasks(limit: 1000) { id status } }")
    whole = await graphql(gateway, "{ tasks(limit: 1000) { id message binaryCode } }")

    assert len(ids["data"]["tasks"]) == 40
    assert {task["status"] for task in ids["data"]["tasks"]} == {"PROCESSED"}
    [error] = whole["errors"]
    assert error["message"] == (
        "this page holds 22.5 MiB of messages and binary codes, over the limit of 16 MiB: "
        "ask for at most 28 tasks (limit: 28) and page with offset, or select fewer fields"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_pages_within_the_budget_are_served_whole(
    gateway: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await processed_big_tasks(gateway, db, 40)
    query = "query($o: Int) { tasks(limit: 28, offset: $o) { message binaryCode } }"

    first = (await graphql(gateway, query, o=0))["data"]["tasks"]
    rest = (await graphql(gateway, query, o=28))["data"]["tasks"]

    assert [task["message"][:4] for task in first + rest] == [f"{i:04d}" for i in range(39, -1, -1)]
    assert all(len(task["binaryCode"]) == 8 * BIG for task in first + rest)


async def test_task_with_only_its_id_selected(
    gateway: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await processed_big_tasks(gateway, db, 1)
    [task] = (await graphql(gateway, "{ tasks { id } }"))["data"]["tasks"]

    found = await graphql(gateway, "query($id: String!) { task(id: $id) { id } }", id=task["id"])

    assert found == {"data": {"task": {"id": task["id"]}}}


async def test_send_task_gives_back_the_messages_sent_when_selected(
    gateway: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    messages = ["hello", "  kept as sent  ", "é🦀"]

    sent = await graphql(gateway, SEND, m=messages)
    only_ids = await graphql(gateway, 'mutation { sendTask(messages: ["x"]) { id } }')

    assert [(t["message"], t["binaryCode"]) for t in sent["data"]["sendTask"]] == [
        (m, "") for m in messages
    ]
    assert list(only_ids["data"]["sendTask"][0]) == ["id"]
    stored = {row["id"]: row["message"] for row in await db.fetch("SELECT id, message FROM tasks")}
    assert [stored[uuid.UUID(t["id"])] for t in sent["data"]["sendTask"]] == messages


async def test_aliased_send_task_fields_are_refused_whole_storing_nothing(
    gateway: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    fields = " ".join(f"a{i}: sendTask(messages: $m) {{ id }}" for i in range(15))

    refused = await graphql(gateway, f"mutation($m: [String!]!) {{ {fields} }}", m=["x"] * 1000)

    assert "data" not in refused or refused["data"] is None
    assert (
        "a request may hold one sendTask field, this one holds 15"
        in refused["errors"][0]["message"]
    )
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0
