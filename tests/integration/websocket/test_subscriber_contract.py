"""The `/ws` endpoint's client connection held to the subscriber's contract, through a
real uvicorn server and a real WebSocket client. Not marked `integration`: no broker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.client import ClientConnection as WebSocketClient

from pyservices.common.ops import embedded_server
from pyservices.websocket.adapters.http import create_app
from pyservices.websocket.adapters.websocket_endpoint import ClientConnection
from pyservices.websocket.domain import BufferBudget, ClientRegistry
from pyservices.websocket.ports import Subscriber
from tests.contracts.subscriber import Client, Connected, IdleSubscriber, SubscriberContract

SECONDS = 5.0


class FarEnd:
    def __init__(self, websocket: WebSocketClient) -> None:
        self._websocket = websocket

    async def receive(self, count: int) -> list[str]:
        async def take() -> list[str]:
            return [str(await self._websocket.recv()) for _ in range(count)]

        return await asyncio.wait_for(take(), SECONDS)

    async def close_reason(self) -> str:
        await asyncio.wait_for(self._websocket.wait_closed(), SECONDS)
        return self._websocket.close_reason or ""


async def until_registered(registry: ClientRegistry, count: int) -> None:
    async with asyncio.timeout(SECONDS):
        while len(registry) < count:  # noqa: ASYNC110 (the server's handler registers it)
            await asyncio.sleep(0.01)


class TestClientConnection(SubscriberContract):
    @pytest.fixture
    def idle_subscriber(self) -> IdleSubscriber:
        # No sender runs for it: what it takes waits, as for a client that reads nothing.
        return lambda frames, size: ClientConnection(BufferBudget(frames, size))

    @pytest.fixture
    async def server(self) -> AsyncIterator[tuple[ClientRegistry, str]]:
        registry = ClientRegistry()
        app = create_app(
            registry, {}, allowed_origins=frozenset({"*"}), buffer_frames=100, buffer_bytes=1 << 24
        )
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        server = embedded_server(app, "127.0.0.1", 0, ws_per_message_deflate=False)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        async with asyncio.timeout(SECONDS):
            while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event)
                await asyncio.sleep(0.01)
        yield registry, f"ws://127.0.0.1:{listener.getsockname()[1]}/ws"
        server.should_exit = True
        await asyncio.wait_for(serving, SECONDS)
        listener.close()

    @pytest.fixture
    async def connected(self, server: tuple[ClientRegistry, str]) -> AsyncIterator[Connected]:
        registry, url = server
        async with contextlib.AsyncExitStack() as clients:

            async def connect() -> tuple[Subscriber, Client]:
                websocket = await clients.enter_async_context(
                    websockets.connect(url, max_size=None)
                )
                await until_registered(registry, 1)
                [subscriber] = registry.clients
                return subscriber, FarEnd(websocket)

            yield connect
