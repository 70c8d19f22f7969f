"""Access control end to end, WebSocket side: every service a process with auth on
(AUTH_JWT_SECRET); two callers send tasks through GraphQL and listen on WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.typing import Subprotocol

from binconv import reference
from pyservices.common.auth import mint
from pyservices.websocket.adapters.handshake import SUBPROTOCOL
from tests.support.client import SEND_TASK, GraphQLClient, ResultFeed, feed_of
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e

SECRET = "end-to-end-secret-of-at-least-32-bytes"
SECONDS = 30.0


@pytest.fixture(scope="module")
def stack(make_stack: Callable[[], ServiceProcesses]) -> ServiceProcesses:
    processes = make_stack()
    processes.extra_env = {
        "AUTH_JWT_SECRET": SECRET,
        "WEBSOCKET_MAX_CONNECTIONS_PER_CALLER": "2",
    }
    processes.start_all()
    return processes


class Caller:
    """One caller: its token on GraphQL and on its WebSocket connections."""

    def __init__(self, stack: ServiceProcesses, http: httpx.AsyncClient, sub: str) -> None:
        self.token = mint(SECRET, sub)
        self.graphql = GraphQLClient(stack.ports.graphql_url, http)
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.url = stack.ports.websocket_url

    async def send(self, messages: list[str]) -> dict[str, str]:
        response = await self.graphql.http.post(
            self.graphql.url,
            json={"query": SEND_TASK, "variables": {"m": messages}},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return {task["id"]: task["message"] for task in response.json()["data"]["sendTask"]}

    def connect(self, *, browser: bool = False) -> websockets.connect:
        if browser:  # a browser cannot set headers: the token as a subprotocol
            return websockets.connect(
                self.url,
                subprotocols=[Subprotocol(SUBPROTOCOL), Subprotocol(f"bearer.{self.token}")],
            )
        return websockets.connect(self.url, additional_headers=self.headers)


def codes(feed: ResultFeed) -> dict[str, str]:
    """Each task's binary code as the connection received it."""
    return {frame["id"]: frame["binaryCode"] for frame in feed.frames}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def test_each_callers_websocket_shows_only_its_own_results(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    alice, bob = Caller(stack, http, "alice"), Caller(stack, http, "bob")
    async with (
        alice.connect() as alice_ws,
        bob.connect(browser=True) as bob_ws,
        feed_of(alice_ws) as alice_feed,
        feed_of(bob_ws) as bob_feed,
    ):
        alices: dict[str, str] = {}
        bobs: dict[str, str] = {}
        for n in range(5):
            alices |= await alice.send([f"alice {n}", f"à {n}"])
            bobs |= await bob.send([f"bob {n}"])

        await alice_feed.wait_for(set(alices), SECONDS)
        await bob_feed.wait_for(set(bobs), SECONDS)
        # Whatever reached a connection before its caller's last task reached it first.
        last_alice, last_bob = await alice.send(["last"]), await bob.send(["last"])
        await alice_feed.wait_for(set(last_alice), SECONDS)
        await bob_feed.wait_for(set(last_bob), SECONDS)

        assert codes(alice_feed).keys() == alices.keys() | last_alice.keys()
        assert codes(bob_feed).keys() == bobs.keys() | last_bob.keys()
        assert all(codes(alice_feed)[i] == reference.encode(m) for i, m in alices.items())
        assert all(codes(bob_feed)[i] == reference.encode(m) for i, m in bobs.items())


async def test_a_forged_or_expired_token_is_refused_with_401(stack: ServiceProcesses) -> None:
    url = stack.ports.websocket_url
    tokens = {
        "the token's signature is invalid": mint("another-secret-of-at-least-32-bytes", "eve"),
        "the token has expired": mint(SECRET, "alice", -3600),
    }
    for reason, token in tokens.items():
        for options in (
            {"additional_headers": {"Authorization": f"Bearer {token}"}},
            {"subprotocols": [SUBPROTOCOL, f"bearer.{token}"]},
        ):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, **options)
            assert refused.value.response.status_code == 401
            body: dict[str, Any] = orjson.loads(refused.value.response.body)
            assert body["errors"][0]["message"] == reason

    with pytest.raises(websockets.InvalidStatus) as missing:
        await websockets.connect(url)
    assert missing.value.response.status_code == 401


async def test_the_per_caller_cap_closes_only_the_extra_connection(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    alice, bob = Caller(stack, http, "alice"), Caller(stack, http, "bob")
    async with (
        alice.connect() as first,
        alice.connect(browser=True) as second,
        alice.connect() as extra,
        bob.connect() as bob_ws,
    ):
        await asyncio.wait_for(extra.wait_closed(), SECONDS)
        assert (extra.close_code, extra.close_reason) == (
            1008,
            "too many connections for this caller (at most 2)",
        )
        async with (
            feed_of(first) as first_feed,
            feed_of(second) as second_feed,
            feed_of(bob_ws) as bob_feed,
        ):
            alices, bobs = await alice.send(["kept"]), await bob.send(["unaffected"])

            await first_feed.wait_for(set(alices), SECONDS)
            await second_feed.wait_for(set(alices), SECONDS)
            await bob_feed.wait_for(set(bobs), SECONDS)
