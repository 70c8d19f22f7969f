"""The `/ws` endpoint: one bounded buffer and one sender task per client.

The consumer only ever calls `offer` (a put_nowait); the sender task does the writing,
so a client that stops reading blocks nothing but its own sender. When its buffer
fills up (in frames or in bytes), the registry drops it and this handler closes the
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket

from pyservices.common.logging import get_logger
from pyservices.websocket.domain import (
    SHUTDOWN,
    TOO_SLOW,
    BufferBudget,
    ClientRegistry,
    Frame,
)
from pyservices.websocket.metrics import CLIENTS, DISCONNECTS, FRAMES_PUSHED

log = get_logger(__name__)

CLOSE_TIMEOUT_S = 2.0
# RFC 6455 "policy violation" for a refused Origin; 4000 (application range) for a
# client dropped for not keeping up, 1001 "going away" on shutdown.
POLICY_VIOLATION = 1008
TOO_SLOW_CODE = 4000
GOING_AWAY = 1001


class ClientConnection:
    """A connected client as the registry sees it (implements ports.Subscriber)."""

    def __init__(self, budget: BufferBudget) -> None:
        # Unbounded as a queue: the budget is the bound, in frames and in bytes.
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.budget = budget
        self.dropped = asyncio.Event()
        self.drop_reason: str | None = None

    def offer(self, frame: Frame) -> bool:
        if not self.budget.admit(frame):
            return False
        self._frames.put_nowait(frame)
        return True

    def drop(self, reason: str) -> None:
        self.drop_reason = reason
        self.dropped.set()

    async def send_frames(self, websocket: WebSocket) -> None:
        while True:
            frame = await self._frames.get()
            await websocket.send_text(frame.text)
            self.budget.release(frame)
            FRAMES_PUSHED.inc()


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    return origin is None or "*" in allowed or origin in allowed


async def _read_until_disconnect(websocket: WebSocket) -> None:
    # Frames from clients mean nothing here; reading them is how a disconnect is seen.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def websocket_endpoint(
    registry: ClientRegistry,
    allowed_origins: frozenset[str],
    *,
    buffer_frames: int,
    buffer_bytes: int,
) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if not origin_allowed(origin, allowed_origins):
            log.info("websocket_origin_refused", origin=origin)
            DISCONNECTS.labels("origin refused").inc()
            await websocket.close(code=POLICY_VIOLATION)  # before accept(): an HTTP 403
            return
        await websocket.accept()
        client = ClientConnection(BufferBudget(buffer_frames, buffer_bytes))
        registry.add(client)
        CLIENTS.inc()
        tasks: set[asyncio.Task[Any]] = {
            asyncio.create_task(client.send_frames(websocket)),
            asyncio.create_task(_read_until_disconnect(websocket)),
            asyncio.create_task(client.dropped.wait()),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            registry.remove(client)
            CLIENTS.dec()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await _close(websocket, client, done)

    return endpoint


async def _close(
    websocket: WebSocket, client: ClientConnection, done: Iterable[asyncio.Task[Any]]
) -> None:
    if client.drop_reason == TOO_SLOW:  # counted by the use case that dropped it
        code, reason = TOO_SLOW_CODE, TOO_SLOW
    elif client.drop_reason == SHUTDOWN:
        DISCONNECTS.labels(SHUTDOWN).inc()
        code, reason = GOING_AWAY, SHUTDOWN
    else:
        failed = any(not t.cancelled() and t.exception() is not None for t in done)
        DISCONNECTS.labels("send failed" if failed else "client closed").inc()
        return
    # A client that reads nothing may never let the close frame through: bounded wait.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_TIMEOUT_S)
