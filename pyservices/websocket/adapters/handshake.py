"""Who opens a WebSocket, when access control is on.

A client that can set headers sends `Authorization: Bearer <JWT>` on the upgrade
request, as on GraphQL. A browser cannot, so it offers two subprotocols,
`new WebSocket(url, ["binconv.v1", "bearer." + token])`, and the server answers with
`binconv.v1`: the token travels in `Sec-WebSocket-Protocol`, a header, and never in
the URL, which proxies and servers write to their logs. A JWT is made of base64url and
dots, all characters a subprotocol may hold.

A refused handshake is an HTTP 401 (503 if the provider's keys cannot be fetched) with
a GraphQL `errors` body saying what was wrong: the connection is never accepted, so
nothing can reach it. A browser sees only that the connection failed; the page learns
why from the same token's 401 on GraphQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from pyservices.common.auth import AuthFailed, AuthUnavailable, Caller, TokenVerifier, bearer_token
from pyservices.common.logging import get_logger
from pyservices.websocket.domain import POLICY_VIOLATION
from pyservices.websocket.metrics import REFUSED

log = get_logger(__name__)

SUBPROTOCOL = "binconv.v1"
BEARER_SUBPROTOCOL = "bearer."
MISSING = (
    "authentication required: send the header Authorization: Bearer <token>, or (from "
    f"a browser) the subprotocols {SUBPROTOCOL} and {BEARER_SUBPROTOCOL}<token>"
)


def offered_subprotocols(websocket: WebSocket) -> list[str]:
    return [str(p) for p in websocket.scope.get("subprotocols", ())]


def chosen_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol to answer with: ours when offered (a browser that offered some
    fails the connection unless one comes back), else none, as in the original."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def offered_token(authorization: str | None, offered: Sequence[str]) -> str:
    """The bearer token of the header, else of a `bearer.` subprotocol; AuthFailed when
    neither is there (or the header is not a bearer token)."""
    if authorization:
        return bearer_token(authorization)
    for protocol in offered:
        if protocol.startswith(BEARER_SUBPROTOCOL) and len(protocol) > len(BEARER_SUBPROTOCOL):
            return protocol.removeprefix(BEARER_SUBPROTOCOL)
    raise AuthFailed(MISSING)


async def authenticate(websocket: WebSocket, verifier: TokenVerifier) -> tuple[Caller, str] | None:
    """The caller and its token, or None once the handshake has been refused."""
    try:
        token = offered_token(
            websocket.headers.get("authorization"), offered_subprotocols(websocket)
        )
        return await verifier.verify(token), token
    except AuthFailed as failed:
        await refuse(websocket, 401, str(failed), "UNAUTHENTICATED")
    except AuthUnavailable as unavailable:
        await refuse(websocket, 503, str(unavailable), "UNAVAILABLE")
    return None


async def refuse(websocket: WebSocket, status: int, message: str, code: str) -> None:
    log.info("websocket_refused", status=status, reason=message)
    REFUSED.labels("unauthenticated" if status == 401 else "auth unavailable").inc()
    extensions: dict[str, object] = {"code": code}
    if status == 503:
        extensions["retryable"] = True
    body = {"errors": [{"message": message, "extensions": extensions}]}
    try:
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    except RuntimeError:  # a server without the denial extension: a bare 403
        await websocket.close(code=POLICY_VIOLATION)
