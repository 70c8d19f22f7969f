"""The gateway's gRPC adapter and GraphQL app against the real task service (in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from pyservices.devstack.infra import free_port
from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.domain import InvalidInput, TaskNotFound
from pyservices.task_service.main import run
from pyservices.task_service.settings import TaskServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def tasks(database_url: str) -> AsyncIterator[GrpcTaskService]:
    port = free_port()
    settings = TaskServiceSettings(
        database_url=database_url, task_service_port=port, metrics_port=free_port()
    )
    stop = asyncio.Event()
    service = asyncio.create_task(run(settings, stop))
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        await asyncio.wait_for(channel.channel_ready(), 20)
        yield GrpcTaskService(channel, timeout_seconds=30)
    finally:
        await channel.close()
        stop.set()
        await asyncio.wait_for(service, 20)


async def test_tasks_round_trip_through_the_task_service(tasks: GrpcTaskService) -> None:
    messages = ["hello", "  kept as sent  ", "é", "🦀"]

    stored = await tasks.send_tasks(messages)
    listed = await tasks.list_tasks(10, 0)
    found = await tasks.get_task(stored[2].id)

    assert [t.message for t in stored] == messages
    assert all(t.binary_code == "" and not t.processed for t in stored)
    assert {t.id for t in listed} == {t.id for t in stored}
    assert found.message == "é" and found.created_at.utcoffset() is not None


async def test_the_task_services_refusals(tasks: GrpcTaskService) -> None:
    with pytest.raises(InvalidInput, match=r"messages\[1\]"):
        await tasks.send_tasks(["fine", "   "])
    with pytest.raises(InvalidInput):
        await tasks.get_task("not-a-uuid")
    with pytest.raises(TaskNotFound):
        await tasks.get_task("00000000-0000-0000-0000-000000000000")
    assert await tasks.list_tasks(10, 0) == []


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
                "query": "mutation($m: [String!]!) { sendTask(messages: $m) { id message } }",
                "variables": {"m": messages},
            },
        )

    assert response.status_code == 200, response.text[:500]
    assert [t["message"][:4] for t in response.json()["data"]["sendTask"]] == [
        f"{i:04d}" for i in range(1000)
    ]
