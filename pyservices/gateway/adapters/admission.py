"""Request bodies within a byte budget, before they are read (an ASGI middleware).

A `sendTask` of 1,000 messages of 64 KiB costs the gateway about six times its 64 MiB
while it is parsed and streamed on: three at once passed the pod's memory limit, and so
would ten requests of 8 MiB. So every POST is charged its body's size (by its
Content-Length; one without a length is charged the maximum) against a `BodyBudget`
before anything of it is read, and waits while the budget is spent: large bodies in
order of arrival, small ones as soon as they fit. A request that finds no room in time
is answered 503 with a retryable GraphQL error, never held without end; a large body
that arrives too slowly is answered 408, so that nobody holds the budget by trickling.
"""

from __future__ import annotations

import asyncio
import gc
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyservices.common.admission import BodyBudget
from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_errors import UNAVAILABLE, send_error_response

log = get_logger(__name__)

BUSY = "the gateway is busy with other large requests; retry"


# A body must arrive at this rate at least (after the first seconds), or the request
# ends with a 408: a client trickling its body would hold part of the budget.
MIN_BODY_BYTES_PER_SECOND = 1024 * 1024
BODY_GRACE_SECONDS = 10.0
TOO_SLOW = "the request body arrived too slowly; send it again"
RETRYABLE: dict[str, object] = {"retryable": True}


class BodyTooSlow(Exception):
    """The client did not send its body within the time its size allows."""


class LargeRequestAdmission:
    def __init__(
        self, app: ASGIApp, budget: BodyBudget, wait_seconds: float, max_body_bytes: int
    ) -> None:
        self._app = app
        self._budget = budget
        self._wait_seconds = wait_seconds
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = _content_length(scope) if scope["type"] == "http" else None
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (size is not None and size > self._max_body_bytes)  # refused (413) at once
        ):
            await self._app(scope, receive, send)
            return
        charged = self._max_body_bytes if size is None else size
        hold = self._budget.hold(charged, self._wait_seconds)
        try:
            await hold.__aenter__()
        except TimeoutError:
            log.warning("request_refused_busy", size=size, waiting=self._budget.waiting)
            await send_error_response(
                send, 503, BUSY, UNAVAILABLE, [(b"retry-after", b"1")], RETRYABLE
            )
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, _deadline(receive, charged), watched_send)
        except BodyTooSlow:
            log.warning("request_body_too_slow", size=size)
            if not started:
                await send_error_response(send, 408, TOO_SLOW, UNAVAILABLE, (), RETRYABLE)
        finally:
            await hold.__aexit__(None, None, None)
            if self._budget.is_large(charged):
                # graphql-core's execution context is a reference cycle (through its
                # bound resolvers) that holds the request's variables: the messages of a
                # large request would stay until the collector's next full pass, which
                # big strings never trigger (measured: +330 MiB kept per request).
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
