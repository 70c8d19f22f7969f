"""`/graphql` with access control on: the token of connection_init (or the header), each
caller's own results only, another owner's id as unknown as an absent one, 4401."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from pyservices.common.auth import mint
from tests.integration.websocket.subscription_client import (
    closed,
    collecting,
    connect_raw,
    error_of,
    graphql_url,
    message,
    session,
    subscribed,
)
from tests.integration.websocket.task_service_harness import TaskService
from tests.integration.websocket.websocket_harness import (
    Publisher,
    StartService,
    service_starter,
)

pytestmark = pytest.mark.integration

SECRET = "integration-test-secret-of-32-bytes!"
A = "01000001"


def bearer(sub: str, expires_in: float = 3600.0) -> str:
    return f"Bearer {mint(SECRET, sub, expires_in)}"


@pytest.fixture
async def url(rabbitmq_url: str, tasks: TaskService) -> AsyncIterator[str]:
    start: StartService = service_starter(rabbitmq_url)
    async with start(auth_jwt_secret=SECRET, task_service_addr=tasks.address) as ws_url:
        yield graphql_url(ws_url)


async def test_each_caller_gets_only_its_own_results(url: str, publisher: Publisher) -> None:
    async with (
        session(url, init_payload={"authorization": bearer("alice")}) as alice,
        session(url, headers={"Authorization": bearer("bob")}) as bob,
        collecting(alice) as alices,
        collecting(bob) as bobs,
    ):
        await subscribed(lambda: publisher.publish(1, owner="alice"), alices)
        await subscribed(lambda: publisher.publish(1, owner="bob"), bobs)
        for_alice = await publisher.publish(3, owner="alice")
        for_bob = await publisher.publish(2, owner="bob")
        await publisher.publish(2)  # open mode's: no caller's
        last_alice = await publisher.publish(1, owner="alice")
        last_bob = await publisher.publish(1, owner="bob")

        assert await alices.until(4) == for_alice + last_alice
        assert await bobs.until(3) == for_bob + last_bob


async def test_another_owners_task_is_not_found_and_an_own_one_is_sent(
    url: str, tasks: TaskService
) -> None:
    [alices] = await tasks.add(owner="alice")
    await tasks.process(alices, A)
    async with session(url, init_payload={"authorization": bearer("bob")}) as bob:
        error = await error_of(bob, [alices])
        assert error["extensions"] == {"code": "NOT_FOUND", "ids": [alices]}
    async with (
        session(url, init_payload={"authorization": bearer("alice")}) as alice,
        collecting(alice, [alices]) as feed,
    ):
        assert await feed.completed() == [alices]


async def test_a_missing_bad_or_expired_token_closes_the_connection_with_4401(url: str) -> None:
    forged = f"Bearer {mint('another-secret-that-is-32-bytes-long', 'eve')}"
    refusals = {
        "authentication required": None,
        "the token's signature is invalid": {"authorization": forged},
        "the token has expired": {"authorization": bearer("alice", -3600)},
        "Bearer": {"authorization": "Basic eA=="},
    }
    for reason, payload in refusals.items():
        connection = await connect_raw(url, payload)
        code, said = await closed(connection)
        assert code == 4401
        assert said is not None and reason in said


async def test_a_connection_is_closed_once_its_token_expires(url: str) -> None:
    # Expired 8 s ago: accepted within the verifier's 10 s leeway, for 2 s more.
    connection = await connect_raw(url, {"authorization": bearer("alice", -8)})
    assert (await message(connection))["type"] == "connection_ack"

    assert await closed(connection) == (4401, "the token has expired")


async def test_the_callers_cap_counts_graphql_connections(
    rabbitmq_url: str, tasks: TaskService
) -> None:
    start = service_starter(rabbitmq_url)
    async with start(
        auth_jwt_secret=SECRET,
        task_service_addr=tasks.address,
        websocket_max_connections_per_caller=1,
    ) as ws_url:
        url = graphql_url(ws_url)
        first = await connect_raw(url, {"authorization": bearer("alice")})
        assert (await message(first))["type"] == "connection_ack"
        extra = await connect_raw(url, {"authorization": bearer("alice")})
        bobs = await connect_raw(url, {"authorization": bearer("bob")})

        assert await closed(extra) == (1008, "too many connections for this caller (at most 1)")
        assert (await message(bobs))["type"] == "connection_ack"
        with contextlib.suppress(Exception):
            await first.close()
            await bobs.close()
