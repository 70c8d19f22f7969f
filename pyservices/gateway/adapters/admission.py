"""Large requests one at a time, before their bodies are read (an ASGI middleware).

A `sendTask` of 1,000 messages of 64 KiB costs the gateway a few times its 64 MiB while
it is parsed and streamed on: three at once passed the pod's memory limit. So a POST
whose body is large (by its Content-Length; one without a length counts as large) waits
for a turn of the `LargeRequestGate` before anything of it is read, and small requests
pass at once. A large request that gets no turn in time is answered 503 with a
retryable GraphQL error, never held without end.
"""

from __future__ import annotations

import asyncio
import gc
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyservices.common.admission import LargeRequestGate
from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_errors import UNAVAILABLE

log = get_logger(__name__)

BUSY = "the gateway is busy with other large requests; retry"


# A large body must arrive at this rate at least (after the first seconds), or the
# request ends with a 408: a client trickling its body would hold the only turn.
MIN_BODY_BYTES_PER_SECOND = 1024 * 1024
BODY_GRACE_SECONDS = 10.0
TOO_SLOW = "the request body arrived too slowly; send it again"


class BodyTooSlow(Exception):
    """The client did not send its body within the time its size allows."""


class LargeRequestAdmission:
    def __init__(
        self, app: ASGIApp, gate: LargeRequestGate, wait_seconds: float, max_body_bytes: int
    ) -> None:
        self._app = app
        self._gate = gate
        self._wait_seconds = wait_seconds
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = _content_length(scope) if scope["type"] == "http" else None
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (size is not None and not self._gate.is_large(size))
            or (size is not None and size > self._max_body_bytes)  # refused (413) at once
        ):
            await self._app(scope, receive, send)
            return
        turn = self._gate.turn(self._wait_seconds)
        try:
            await turn.__aenter__()
        except TimeoutError:
            log.warning("large_request_refused_busy", waiting=self._gate.waiting)
            await _answer(send, 503, BUSY, [(b"retry-after", b"1")])
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, _deadline(receive, size or self._max_body_bytes), watched_send)
        except BodyTooSlow:
            log.warning("large_request_body_too_slow", size=size)
            if not started:
                await _answer(send, 408, TOO_SLOW, [])
        finally:
            await turn.__aexit__(None, None, None)
            # graphql-core's execution context is a reference cycle (through its bound
            # resolvers) that holds the request's variables: the messages of a large
            # request would stay until the collector's next full pass, which big strings
            # never trigger (measured: +330 MiB kept per request).
            gc.collect()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None  # no length (chunked): counted as large


def _deadline(receive: Receive, size: int) -> Receive:
    """`receive`, failing with BodyTooSlow once the body is later than its size allows."""
    ends = time.monotonic() + BODY_GRACE_SECONDS + size / MIN_BODY_BYTES_PER_SECOND

    async def receive_in_time() -> Message:
        try:
            return await asyncio.wait_for(receive(), max(0.0, ends - time.monotonic()))
        except TimeoutError:
            raise BodyTooSlow from None

    return receive_in_time


async def _answer(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": UNAVAILABLE, "retryable": True}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
