"""Clients of `/graphql` for the tests: the real `gql` client (graphql-transport-ws), a
collector that reads one subscription in the background, and the protocol by hand for
what a client library hides (close codes, a client that stops reading)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import websockets
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

PROTOCOL = "graphql-transport-ws"
TASK_PROCESSED = """
subscription ($ids: [ID!]) {
  taskProcessed(ids: $ids) { id binaryCode createdAt processedAt }
}
"""
SECONDS = 20.0


def graphql_url(ws_url: str) -> str:
    """The /graphql URL beside a service's /ws URL."""
    return ws_url.removesuffix("/ws") + "/graphql"


def transport(url: str, **options: Any) -> WebsocketsTransport:
    return WebsocketsTransport(url=url, subprotocols=[PROTOCOL], **options)


@contextlib.asynccontextmanager
async def session(url: str, **options: Any) -> AsyncIterator[AsyncClientSession]:
    async with Client(transport=transport(url, **options)) as opened:
        yield opened


def request(ids: list[str] | None = None) -> GraphQLRequest:
    variables = {} if ids is None else {"ids": ids}
    return GraphQLRequest(TASK_PROCESSED, variable_values=variables)


class Collected:
    """One subscription read in the background: its results, whether it completed, and
    the error that ended it."""

    def __init__(self, opened: AsyncClientSession, ids: list[str] | None) -> None:
        self.results: list[dict[str, Any]] = []
        self.error: TransportQueryError | None = None
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read(opened, ids))

    async def _read(self, opened: AsyncClientSession, ids: list[str] | None) -> None:
        try:
            async for result in opened.subscribe(request(ids)):
                self.results.append(result["taskProcessed"])
                self._arrived.set()
        except TransportQueryError as error:
            self.error = error

    @property
    def ids(self) -> list[str]:
        return [result["id"] for result in self.results]

    async def until(self, count: int, seconds: float = SECONDS) -> list[str]:
        """The ids received, once there are at least `count`."""
        async with asyncio.timeout(seconds):
            while len(self.results) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.ids

    async def completed(self, seconds: float = SECONDS) -> list[str]:
        """The ids received, once the server has completed the subscription."""
        await asyncio.wait_for(asyncio.shield(self._task), seconds)
        return self.ids

    @property
    def done(self) -> bool:
        return self._task.done()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def collecting(
    opened: AsyncClientSession, ids: list[str] | None = None
) -> AsyncIterator[Collected]:
    collected = Collected(opened, ids)
    try:
        yield collected
    finally:
        await collected.stop()


async def subscribed(publish_probe: Callable[[], Awaitable[object]], *feeds: Collected) -> None:
    """Until every feed (subscribed without ids) has received a result: a subscription
    has no acknowledgement, so a probe published after it is registered shows it is.
    Each feed is then cleared, so what follows starts from nothing."""
    async with asyncio.timeout(SECONDS):
        while not all(feed.results for feed in feeds):
            await publish_probe()
            await asyncio.sleep(0.05)
    for feed in feeds:
        feed.results.clear()


async def error_of(opened: AsyncClientSession, ids: list[str] | None) -> dict[str, Any]:
    """The one error a subscription that cannot start is answered with."""
    collected = Collected(opened, ids)
    await collected.completed()
    assert collected.error is not None, collected.results
    [error] = collected.error.errors or []
    assert collected.results == []
    return dict(error)


# The protocol by hand.


async def connect_raw(
    url: str, payload: dict[str, Any] | None = None, **options: Any
) -> ClientConnection:
    """A graphql-transport-ws connection that has sent its connection_init."""
    connection = await websockets.connect(url, subprotocols=[Subprotocol(PROTOCOL)], **options)
    init: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        init["payload"] = payload
    await connection.send(orjson.dumps(init).decode())
    return connection


async def message(connection: ClientConnection) -> dict[str, Any]:
    received: dict[str, Any] = orjson.loads(await asyncio.wait_for(connection.recv(), SECONDS))
    return received


async def subscribe_raw(
    connection: ClientConnection, op: str, ids: list[str] | None = None
) -> None:
    variables = {} if ids is None else {"ids": ids}
    payload = {"query": TASK_PROCESSED, "variables": variables}
    await connection.send(
        orjson.dumps({"id": op, "type": "subscribe", "payload": payload}).decode()
    )


async def closed(connection: ClientConnection) -> tuple[int | None, str | None]:
    await asyncio.wait_for(connection.wait_closed(), SECONDS)
    return connection.close_code, connection.close_reason
