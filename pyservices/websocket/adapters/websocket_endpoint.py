"""The `/ws` endpoint: one bounded buffer and one sender task per client.

The consumer only ever calls `offer` (a put_nowait); the sender task does the writing,
so a client that stops reading blocks nothing but its own sender. When its buffer
fills up (in frames or in bytes), the registry drops it and this handler closes the
connection.

With access control on, the handshake names the caller (`handshake`), whose results
alone reach it; a connection outlives its token by no more than the verifier's cache
(the token is checked again then, and an expired one closes the connection, 4401).
Over a connection cap, the new connection is accepted and closed at once with a code
and reason a browser can read (1008 for the caller's cap, 1013 for the process's).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from pyservices.common.auth import AuthFailed, AuthUnavailable, Caller, TokenVerifier
from pyservices.common.logging import get_logger
from pyservices.websocket.adapters.handshake import (
    authenticate,
    chosen_subprotocol,
    offered_subprotocols,
)
from pyservices.websocket.domain import (
    POLICY_VIOLATION,
    SHUTDOWN,
    TOKEN_EXPIRED,
    TOO_SLOW,
    BufferBudget,
    Frame,
)
from pyservices.websocket.metrics import CLIENTS, DISCONNECTS, FRAMES_PUSHED, REFUSED
from pyservices.websocket.ports import Subscriber
from pyservices.websocket.usecases import ClientConnections

log = get_logger(__name__)

CLOSE_TIMEOUT_S = 2.0
# RFC 6455 "policy violation" for a refused Origin; 4000 (application range) for a
# client dropped for not keeping up, 4401 for an expired token (HTTP's 401 in that
# range), 1001 "going away" on shutdown.
TOO_SLOW_CODE = 4000
TOKEN_EXPIRED_CODE = 4401
GOING_AWAY = 1001
# After the provider's keys could not be fetched, when a token is checked again.
RECHECK_SECONDS = 30.0


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
    connections: ClientConnections,
    allowed_origins: frozenset[str],
    *,
    buffer_frames: int,
    buffer_bytes: int,
    verifier: TokenVerifier | None = None,
) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if not origin_allowed(origin, allowed_origins):
            log.info("websocket_origin_refused", origin=origin)
            DISCONNECTS.labels("origin refused").inc()
            await websocket.close(code=POLICY_VIOLATION)  # before accept(): an HTTP 403
            return
        caller: Caller | None = None
        token = ""
        if verifier is not None:
            if (authenticated := await authenticate(websocket, verifier)) is None:
                return
            caller, token = authenticated
        owner = caller.sub if caller is not None else None
        # Open mode caps per client address.
        key = owner if owner is not None else (websocket.client.host if websocket.client else "")
        client = ClientConnection(BufferBudget(buffer_frames, buffer_bytes))
        refusal = await connections.open(client, key, owner)
        try:
            await websocket.accept(chosen_subprotocol(offered_subprotocols(websocket)))
            if refusal is not None:
                log.info("websocket_refused", code=refusal.code, reason=refusal.reason)
                REFUSED.labels(refusal.reason.split(" (")[0]).inc()
                with contextlib.suppress(Exception):
                    await websocket.close(code=refusal.code, reason=refusal.reason)
                return
            await _serve(websocket, client, verifier, caller, token)
        finally:
            if refusal is None:
                await connections.close(client, key, owner)

    return endpoint


async def _serve(
    websocket: WebSocket,
    client: ClientConnection,
    verifier: TokenVerifier | None,
    caller: Caller | None,
    token: str,
) -> None:
    CLIENTS.inc()
    tasks: set[asyncio.Task[Any]] = {
        asyncio.create_task(client.send_frames(websocket)),
        asyncio.create_task(_read_until_disconnect(websocket)),
        asyncio.create_task(client.dropped.wait()),
    }
    if verifier is not None and caller is not None:
        tasks.add(asyncio.create_task(until_expired(client, verifier, caller, token)))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        CLIENTS.dec()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    failed = any(not t.cancelled() and t.exception() is not None for t in done)
    await close_dropped(websocket, client.drop_reason, failed=failed)


async def until_expired(
    client: Subscriber, verifier: TokenVerifier, caller: Caller, token: str
) -> None:
    """Checks the token again whenever its cached check lapses; drops the client once
    the token is no longer accepted."""
    while True:
        await asyncio.sleep(max(0.0, caller.expires_at - time.time()))
        try:
            caller = await verifier.verify(token)
        except AuthFailed:
            client.drop(TOKEN_EXPIRED)
            return
        except AuthUnavailable:
            await asyncio.sleep(RECHECK_SECONDS)  # keep the client while the provider is away


async def close_dropped(websocket: WebSocket, drop_reason: str | None, *, failed: bool) -> None:
    """Close a connection its client was dropped from (`drop_reason`) with the code and
    reason that say why; count a connection that ended by itself (None)."""
    if drop_reason == TOO_SLOW:  # counted by the use case that dropped it
        code, reason = TOO_SLOW_CODE, TOO_SLOW
    elif drop_reason == SHUTDOWN:
        DISCONNECTS.labels(SHUTDOWN).inc()
        code, reason = GOING_AWAY, SHUTDOWN
    elif drop_reason == TOKEN_EXPIRED:
        DISCONNECTS.labels("token expired").inc()
        code, reason = TOKEN_EXPIRED_CODE, TOKEN_EXPIRED
    else:
        DISCONNECTS.labels("send failed" if failed else "client closed").inc()
        return
    # A client that reads nothing may never let the close frame through: bounded wait.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_TIMEOUT_S)
