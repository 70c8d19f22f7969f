"""The WebSocket service with access control on, real RabbitMQ and real WebSocket clients:
the handshake's token, results only to their owner, owners followed per process, caps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from devstack.infra import LocalRabbitMQ
from pyservices.common.auth import mint
from pyservices.common.topology import PROCESSED_BY_OWNER_EXCHANGE, owner_routing_key
from pyservices.websocket.adapters.handshake import SUBPROTOCOL
from tests.integration.websocket.websocket_harness import (
    Publisher,
    StartService,
    service_starter,
)

pytestmark = pytest.mark.integration

SECRET = "integration-test-secret-of-32-bytes!"
SECONDS = 20.0


@pytest.fixture
def start_service(rabbitmq_url: str) -> StartService:
    return service_starter(rabbitmq_url)


def token(sub: str, expires_in: float = 3600.0) -> str:
    return mint(SECRET, sub, expires_in)


def as_header(sub: str) -> dict[str, Any]:
    return {"additional_headers": {"Authorization": f"Bearer {token(sub)}"}}


def as_browser(sub: str) -> dict[str, Any]:
    return {"subprotocols": [SUBPROTOCOL, f"bearer.{token(sub)}"]}


async def ids(client: ClientConnection, count: int) -> list[str]:
    async def take() -> list[str]:
        return [orjson.loads(await client.recv())["id"] for _ in range(count)]

    return await asyncio.wait_for(take(), SECONDS)


async def closed(client: ClientConnection) -> tuple[int | None, str | None]:
    await asyncio.wait_for(client.wait_closed(), SECONDS)
    return client.close_code, client.close_reason


async def refused(url: str, **options: Any) -> tuple[int, str]:
    with pytest.raises(websockets.InvalidStatus) as refusal:
        await websockets.connect(url, **options)
    response = refusal.value.response
    [error] = orjson.loads(response.body)["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return response.status_code, error["message"]


async def test_each_caller_gets_only_its_own_results(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service(auth_jwt_secret=SECRET) as url,
        websockets.connect(url, **as_header("alice")) as alice,
        websockets.connect(url, **as_browser("alice")) as alice_browser,
        websockets.connect(url, **as_browser("bob")) as bob,
    ):
        assert alice_browser.subprotocol == SUBPROTOCOL
        assert alice.subprotocol is None
        alices, bobs = [], []
        for _ in range(5):
            alices += await publisher.publish(1, owner="alice")
            bobs += await publisher.publish(1, owner="bob")
            await publisher.publish(1)  # a task of open mode: no one's
            await publisher.publish(1, owner="carol")  # not connected here

        assert await ids(alice, 5) == alices
        assert await ids(alice_browser, 5) == alices
        assert await ids(bob, 5) == bobs
        # Nothing else was queued before these: the next frame is the next of their own.
        last_alice = await publisher.publish(1, owner="alice")
        last_bob = await publisher.publish(1, owner="bob")
        assert await ids(alice, 1) == last_alice
        assert await ids(bob, 1) == last_bob


async def test_a_missing_malformed_forged_or_expired_token_is_refused_with_401(
    start_service: StartService,
) -> None:
    forged = mint("another-secret-that-is-32-bytes-long", "alice")
    unsigned = jwt.encode({"sub": "alice", "exp": time.time() + 60}, "", algorithm="none")
    async with start_service(auth_jwt_secret=SECRET) as url:
        assert (await refused(url))[0] == 401
        assert (await refused(url, subprotocols=[SUBPROTOCOL]))[0] == 401
        status, message = await refused(url, additional_headers={"Authorization": "Basic eA=="})
        assert status == 401 and "Bearer" in message
        assert await refused(url, subprotocols=[SUBPROTOCOL, f"bearer.{forged}"]) == (
            401,
            "the token's signature is invalid",
        )
        assert await refused(
            url, additional_headers={"Authorization": f"Bearer {token('alice', -3600)}"}
        ) == (401, "the token has expired")
        status, message = await refused(
            url, additional_headers={"Authorization": f"Bearer {unsigned}"}
        )
        assert status == 401 and "algorithm" in message
        assert SECRET not in message


async def test_the_callers_cap_closes_only_its_extra_connection(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service(auth_jwt_secret=SECRET, websocket_max_connections_per_caller=2) as url,
        websockets.connect(url, **as_header("alice")) as first,
        websockets.connect(url, **as_browser("alice")) as second,
        websockets.connect(url, **as_browser("alice")) as extra,
        websockets.connect(url, **as_header("bob")) as bob,
    ):
        assert await closed(extra) == (1008, "too many connections for this caller (at most 2)")

        alices = await publisher.publish(3, owner="alice")
        bobs = await publisher.publish(3, owner="bob")

        assert await ids(first, 3) == alices
        assert await ids(second, 3) == alices
        assert await ids(bob, 3) == bobs
        # A place is free again once one of the caller's connections has gone.
        await second.close()
        async with websockets.connect(url, **as_header("alice")) as again:
            more = await publisher.publish(1, owner="alice")
            assert await ids(again, 1) == more


async def test_the_total_cap_closes_the_connection_over_it(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service(auth_jwt_secret=SECRET, websocket_max_connections=2) as url,
        websockets.connect(url, **as_header("alice")) as alice,
        websockets.connect(url, **as_header("bob")) as bob,
        websockets.connect(url, **as_header("carol")) as carol,
    ):
        assert await closed(carol) == (1013, "too many connections: try again later")

        alices = await publisher.publish(1, owner="alice")
        bobs = await publisher.publish(1, owner="bob")
        assert await ids(alice, 1) == alices
        assert await ids(bob, 1) == bobs


async def test_a_process_follows_only_the_owners_connected_to_it(
    start_service: StartService, rabbitmq_server: LocalRabbitMQ, rabbitmq_url: str
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]

    async def keys() -> list[str]:
        listed = await asyncio.to_thread(
            rabbitmq_server.ctl,
            "list_bindings",
            "-p",
            vhost,
            "--formatter",
            "json",
            "source_name",
            "routing_key",
        )
        bindings = orjson.loads(listed)
        return sorted(
            b["routing_key"] for b in bindings if b["source_name"] == PROCESSED_BY_OWNER_EXCHANGE
        )

    async with start_service(auth_jwt_secret=SECRET) as url:
        assert await keys() == []
        async with (
            websockets.connect(url, **as_header("alice")),
            websockets.connect(url, **as_header("alice")),
            websockets.connect(url, **as_header("bob")),
        ):
            assert await keys() == sorted([owner_routing_key("alice"), owner_routing_key("bob")])

        async with asyncio.timeout(SECONDS):
            while await keys():  # noqa: ASYNC110 (the broker's state: no event to await)
                await asyncio.sleep(0.1)


async def test_a_connection_is_closed_once_its_token_expires(
    start_service: StartService,
) -> None:
    # Expired 8 s ago: accepted within the verifier's 10 s leeway, for 2 s more.
    soon = mint(SECRET, "alice", -8)
    async with (
        start_service(auth_jwt_secret=SECRET) as url,
        websockets.connect(url, additional_headers={"Authorization": f"Bearer {soon}"}) as alice,
    ):
        assert await closed(alice) == (4401, "the token has expired")


async def test_in_open_mode_a_client_offering_the_subprotocol_is_answered_with_it(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service() as url,
        websockets.connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)]) as page,
    ):
        assert page.subprotocol == SUBPROTOCOL
        sent = await publisher.publish(2, owner="alice")
        assert await ids(page, 2) == sent
