"""Messages in through GraphQL, binary codes out on WebSocket, every task in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from binconv import reference
from tests.support.client import GraphQLClient, GraphQLError, result_feed
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e

MESSAGES = ["hello", "é", "naïve café", "🦀 rust ❤ python", "A", "  spaces kept  ", "\t\n"]


async def test_every_message_arrives_converted_on_the_websocket(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    async with result_feed(stack.ports.websocket_url) as feed:
        sent = await graphql.send_tasks(MESSAGES[:-1])

        assert [task["message"] for task in sent] == MESSAGES[:-1]
        assert all(task["binaryCode"] == "" for task in sent)
        frames = await feed.wait_for({task["id"] for task in sent}, seconds=30)

    for task in sent:
        assert frames[task["id"]]["binaryCode"] == reference.encode(task["message"])


async def test_tasks_lists_the_results_newest_first(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    async with result_feed(stack.ports.websocket_url) as feed:
        first = await graphql.send_tasks(["older"])
        second = await graphql.send_tasks(["newer", "newest"])
        await feed.wait_for({t["id"] for t in first + second}, seconds=30)

    listed = await graphql.tasks(limit=3)

    assert [t["message"] for t in listed] == ["newest", "newer", "older"]
    assert {t["id"]: t["binaryCode"] for t in listed} == {
        t["id"]: reference.encode(t["message"]) for t in first + second
    }
    assert all(t["createdAt"].endswith("+00:00") for t in listed)


async def test_a_bad_request_is_refused_with_a_clear_error_and_stores_nothing(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    before = await graphql.tasks(limit=1000)

    with pytest.raises(GraphQLError, match=r"messages\[1\]"):
        await graphql.send_tasks(["fine", "   ", "also fine"])
    with pytest.raises(GraphQLError):
        await graphql.send_tasks([])

    assert await graphql.tasks(limit=1000) == before


async def test_malformed_json_is_a_client_error_not_a_server_error(stack: ServiceProcesses) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            stack.ports.graphql_url,
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert 400 <= response.status_code < 500


async def test_two_relays_and_two_websocket_services_deliver_every_result_once_per_service(
    make_stack: Callable[[], ServiceProcesses],
) -> None:
    stack = make_stack()
    stack.start_all()
    stack.start("publisher", instance="publisher-2")
    second_ws = stack.start("websocket", instance="websocket-2")
    second_ws_url = _websocket_url_of(stack, second_ws)

    async with (
        httpx.AsyncClient(timeout=30) as http,
        result_feed(stack.ports.websocket_url) as feed_a,
        result_feed(second_ws_url) as feed_b,
    ):
        graphql = GraphQLClient(stack.ports.graphql_url, http)
        batches = await asyncio.gather(
            *(graphql.send_tasks([f"task {b}.{i}" for i in range(20)]) for b in range(10))
        )
        ids = {task["id"] for batch in batches for task in batch}
        await asyncio.gather(feed_a.wait_for(ids, 60), feed_b.wait_for(ids, 60))
        await asyncio.sleep(0.5)  # a duplicate, if any, would arrive right behind

    for feed in (feed_a, feed_b):
        received = [frame["id"] for frame in feed.frames if frame["id"] in ids]
        assert sorted(received) == sorted(ids)


def _websocket_url_of(stack: ServiceProcesses, name: str) -> str:
    process = stack.running[name]
    port = stack.instance_ports[name].websocket
    assert process.poll() is None
    return f"ws://127.0.0.1:{port}/ws"
