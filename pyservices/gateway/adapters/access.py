"""Who may call the API, and how often (an ASGI middleware in front of /query).

In auth mode every request to /query carries `Authorization: Bearer <JWT>`; one without
a token, or with a token that is expired, forged, or for another audience or issuer, is
answered 401 with a GraphQL `errors` body saying which, before anything of it is read.
Then the caller's requests-per-second bucket (per `sub`; per client address in open
mode) is charged, and a caller over it gets 429 with `RATE_LIMITED` and `retryAfter`.
The caller is handed on in the request's state, for the resolvers (owner, task bucket).
The page, /health and /metrics stay open: the page asks for its token itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from pyservices.common.auth import AuthFailed, AuthUnavailable, TokenVerifier, bearer_token
from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_errors import (
    RATE_LIMITED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    retry_after_seconds,
    send_error_response,
)
from pyservices.gateway.domain import Caller
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.metrics import REQUESTS_REFUSED

log = get_logger(__name__)

GUARDED_PATHS = frozenset({"/query"})
TOO_MANY_REQUESTS = "too many requests: over this caller's limit, retry later"


class CallerAccess:
    def __init__(
        self, app: ASGIApp, verifier: TokenVerifier | None, request_buckets: TokenBuckets
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._buckets = request_buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in GUARDED_PATHS:
            await self._app(scope, receive, send)
            return
        if self._verifier is None:
            client = scope.get("client")
            caller = Caller(owner=None, key=client[0] if client else "")
        else:
            try:
                token = bearer_token(_header(scope, b"authorization"))
                sub = (await self._verifier.verify(token)).sub
            except AuthFailed as refusal:
                REQUESTS_REFUSED.labels("unauthenticated").inc()
                log.info("request_unauthenticated", reason=str(refusal))
                challenge = b'Bearer error="invalid_token"'
                await send_error_response(
                    send, 401, str(refusal), UNAUTHENTICATED, [(b"www-authenticate", challenge)]
                )
                return
            except AuthUnavailable as refusal:
                REQUESTS_REFUSED.labels("auth unavailable").inc()
                log.warning("auth_keys_unavailable", error=repr(refusal.__cause__))
                await send_error_response(
                    send, 503, f"{refusal}; retry", UNAVAILABLE, [(b"retry-after", b"1")]
                )
                return
            caller = Caller(owner=sub, key=sub)
        wait = self._buckets.take(caller.key)
        if wait:
            REQUESTS_REFUSED.labels("rate limited").inc()
            seconds = retry_after_seconds(wait)
            await send_error_response(
                send,
                429,
                TOO_MANY_REQUESTS,
                RATE_LIMITED,
                [(b"retry-after", str(seconds).encode())],
                {"retryAfter": seconds, "retryable": True},
            )
            return
        scope.setdefault("state", {})["caller"] = caller
        await self._app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
