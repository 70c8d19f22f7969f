"""Large requests one at a time, before their bodies are read (an ASGI middleware).

A `sendTask` of 1,000 messages of 64 KiB costs the gateway a few times its 64 MiB while
it is parsed and streamed on: three at once passed the pod's memory limit. So a POST
whose body is large (by its Content-Length; one without a length counts as large) waits
for a turn of the `LargeRequestGate` before anything of it is read, and small requests
pass at once. A large request that gets no turn in time is answered 503 with a
retryable GraphQL error, never held without end.
"""

from __future__ import annotations

import gc

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from pyservices.common.admission import LargeRequestGate
from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_errors import UNAVAILABLE

log = get_logger(__name__)

BUSY = "the gateway is busy with other large requests; retry"


class LargeRequestAdmission:
    def __init__(self, app: ASGIApp, gate: LargeRequestGate, wait_seconds: float) -> None:
        self._app = app
        self._gate = gate
        self._wait_seconds = wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self._is_large(scope):
            await self._app(scope, receive, send)
            return
        try:
            async with self._gate.turn(self._wait_seconds):
                try:
                    await self._app(scope, receive, send)
                finally:
                    # graphql-core's execution context is a reference cycle (through its
                    # bound resolvers) that holds the request's variables: the messages
                    # of a large request would stay until the collector's next full pass,
                    # which big strings never trigger (measured: +330 MiB kept per request).
                    gc.collect()
        except TimeoutError:
            log.warning("large_request_refused_busy", waiting=self._gate.waiting)
            await _refuse(send)

    def _is_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return self._gate.is_large(int(value))
                except ValueError:
                    return True
        return True


async def _refuse(send: Send) -> None:
    body = orjson.dumps(
        {"errors": [{"message": BUSY, "extensions": {"code": UNAVAILABLE, "retryable": True}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
