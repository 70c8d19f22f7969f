"""The taskProcessed subscription end to end: every service a process, tasks sent through
the gateway's sendTask, results awaited with the gql client on the WebSocket service's
/graphql, in open mode and with access control on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from binconv import reference
from pyservices.common.auth import mint
from tests.integration.websocket.subscription_client import (
    collecting,
    error_of,
    graphql_url,
    session,
    subscribed,
)
from tests.support.client import SEND_TASK, GraphQLClient
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e

SECRET = "end-to-end-secret-of-at-least-32-bytes"
SECONDS = 30.0
MESSAGES = ["hello", "é", "🦀 rust ❤ python"]


async def until_processed(graphql: GraphQLClient, ids: list[str]) -> None:
    async with asyncio.timeout(SECONDS):
        for task_id in ids:
            while True:
                data = await graphql.execute(
                    "query($id: String!) { task(id: $id) { status } }", {"id": task_id}
                )
                if data["task"]["status"] == "PROCESSED":
                    break
                await asyncio.sleep(0.05)


async def test_a_client_awaits_the_tasks_it_sent_without_racing_them(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    url = graphql_url(stack.ports.websocket_url)
    sent = await graphql.send_tasks(MESSAGES)
    ids = [task["id"] for task in sent]
    # Subscribed after sendTask: some results may be in already, some not yet.
    async with session(url) as opened, collecting(opened, ids) as feed:
        assert sorted(await feed.completed(SECONDS)) == sorted(ids)

    codes = {result["id"]: result["binaryCode"] for result in feed.results}
    assert codes == {task["id"]: reference.encode(task["message"]) for task in sent}


async def test_results_processed_before_the_subscription_are_sent_at_once(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    sent = await graphql.send_tasks(MESSAGES)
    ids = [task["id"] for task in sent]
    await until_processed(graphql, ids)
    url = graphql_url(stack.ports.websocket_url)
    async with session(url) as opened, collecting(opened, ids) as feed:
        assert sorted(await feed.completed(5)) == sorted(ids)


async def test_a_subscription_without_ids_sees_every_result(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    async with (
        session(graphql_url(stack.ports.websocket_url)) as opened,
        collecting(opened) as feed,
    ):
        await subscribed(lambda: graphql.send_tasks(["probe"]), feed)
        sent = await graphql.send_tasks(MESSAGES)

        ids = {task["id"] for task in sent}
        async with asyncio.timeout(SECONDS):
            while not ids <= set(feed.ids):
                await feed.until(len(feed.results) + 1)


@pytest.fixture(scope="module")
def auth_stack(make_stack: Callable[[], ServiceProcesses]) -> ServiceProcesses:
    processes = make_stack()
    processes.extra_env = {"AUTH_JWT_SECRET": SECRET}
    processes.start_all()
    return processes


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def send_as(
    stack: ServiceProcesses, http: httpx.AsyncClient, sub: str, messages: list[str]
) -> list[str]:
    response = await http.post(
        stack.ports.graphql_url,
        json={"query": SEND_TASK, "variables": {"m": messages}},
        headers={"Authorization": f"Bearer {mint(SECRET, sub)}"},
    )
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["data"]["sendTask"]]


async def test_with_access_control_a_caller_awaits_only_its_own_tasks(
    auth_stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    url = graphql_url(auth_stack.ports.websocket_url)
    alice = {"authorization": f"Bearer {mint(SECRET, 'alice')}"}
    bob = {"authorization": f"Bearer {mint(SECRET, 'bob')}"}
    async with session(url, init_payload=bob) as bobs, collecting(bobs) as bobs_feed:
        await subscribed(lambda: send_as(auth_stack, http, "bob", ["probe"]), bobs_feed)
        alices_ids = await send_as(auth_stack, http, "alice", MESSAGES)

        async with (
            session(url, init_payload=alice) as alices,
            collecting(alices, alices_ids) as feed,
        ):
            assert sorted(await feed.completed(SECONDS)) == sorted(alices_ids)

        error = await error_of(bobs, alices_ids[:1])
        assert error["extensions"] == {"code": "NOT_FOUND", "ids": alices_ids[:1]}
        last_bob = await send_as(auth_stack, http, "bob", ["last"])
        assert await bobs_feed.until(1, SECONDS) == last_bob  # and none of alice's before it
