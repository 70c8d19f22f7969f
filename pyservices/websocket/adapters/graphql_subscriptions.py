"""`/graphql`: the `taskProcessed` subscription over graphql-transport-ws (strawberry).

A connection goes through the same gates as one on /ws: the Origin list before the
handshake is accepted; then, at `connection_init`, the caller's token (access control
on: the payload's `authorization`, else the Authorization header) and the connection
caps, shared with /ws. Only then is it acknowledged and registered as one client of the
registry (a `SubscriptionFeed`), whatever number of subscriptions it carries. A feed
dropped by the registry (too slow, shutdown, token expired) closes the connection with
the code and reason /ws uses. HTTP requests are refused: queries live on the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import DisableIntrospection, MaskErrors, SchemaExtension
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionContext
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from pyservices.common.auth import AuthFailed, AuthUnavailable, Caller, TokenVerifier, bearer_token
from pyservices.common.events import TaskProcessed
from pyservices.common.logging import get_logger
from pyservices.websocket.adapters.websocket_endpoint import (
    TOKEN_EXPIRED_CODE,
    close_dropped,
    origin_allowed,
    until_expired,
)
from pyservices.websocket.domain import (
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    BufferBudget,
    InvalidIds,
    LookupUnavailable,
    UnknownTasks,
)
from pyservices.websocket.metrics import CLIENTS, DISCONNECTS, REFUSED
from pyservices.websocket.ports import TaskLookup
from pyservices.websocket.subscriptions import SubscriptionFeed, subscribe_processed_tasks
from pyservices.websocket.usecases import ClientConnections

log = get_logger(__name__)

QUERIES_ELSEWHERE = (
    "this endpoint serves GraphQL subscriptions over WebSocket (graphql-transport-ws) "
    "only: send queries and mutations to the gateway's /query"
)
MISSING_TOKEN = (
    'authentication required: connection_init payload {"authorization": "Bearer <token>"}'
    " or the Authorization header"
)
# graphql-ws's default is 3 s; a connection holds no slot under the caps until then.
CONNECTION_INIT_WAIT = timedelta(seconds=10)
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a control frame's payload is at most 125 bytes


@strawberry.type(description="A task's result, as pushed on /ws.")
class ProcessedTask:
    id: strawberry.ID
    binary_code: str
    created_at: str = strawberry.field(description="ISO-8601 with time zone")
    processed_at: str = strawberry.field(description="ISO-8601 with time zone")

    @classmethod
    def of(cls, event: TaskProcessed) -> ProcessedTask:
        return cls(
            id=strawberry.ID(event.id),
            binary_code=event.binary_code,
            created_at=event.created_at.isoformat(timespec="microseconds"),
            processed_at=event.processed_at.isoformat(timespec="microseconds"),
        )


@dataclass
class ConnectionContext:
    """One connection's state, the context of every operation on it."""

    websocket: WebSocket
    feed: SubscriptionFeed
    lookup: TaskLookup
    lookup_concurrency: int
    max_subscriptions: int
    connection_params: dict[str, object] = field(default_factory=dict)  # set by strawberry
    caller_key: str | None = None  # set once admitted under the caps
    owner: str | None = None
    expiry: asyncio.Task[None] | None = None


async def resolve_task_processed(
    info: strawberry.Info[ConnectionContext, Any], ids: list[strawberry.ID] | None = None
) -> AsyncGenerator[ProcessedTask, None]:
    context = info.context
    try:
        events = await subscribe_processed_tasks(
            ids, context.feed, context.lookup, context.owner, context.lookup_concurrency
        )
    except InvalidIds as invalid:
        raise GraphQLError(str(invalid), extensions={"code": "BAD_USER_INPUT"}) from None
    except UnknownTasks as unknown:
        raise GraphQLError(
            str(unknown), extensions={"code": "NOT_FOUND", "ids": list(unknown.ids)}
        ) from None
    except LookupUnavailable as unavailable:
        raise GraphQLError(
            str(unavailable), extensions={"code": "UNAVAILABLE", "retryable": True}
        ) from None
    return _processed_tasks(events)


async def _processed_tasks(
    events: AsyncGenerator[TaskProcessed, None],
) -> AsyncGenerator[ProcessedTask, None]:
    async with aclosing(events):
        async for event in events:
            yield ProcessedTask.of(event)


def where_queries_are() -> str:
    return "the gateway's /query: this endpoint serves subscriptions only"


@strawberry.type
class Query:
    # GraphQL requires a query type; the queries themselves are the gateway's.
    queries: str = strawberry.field(
        resolver=where_queries_are, description="Where queries and mutations are served."
    )


@strawberry.type
class Subscription:
    task_processed: ProcessedTask = strawberry.subscription(
        resolver=resolve_task_processed,
        description=(
            "Tasks' results as they are processed. With `ids` (at most 1000), only those "
            "tasks', each once, those processed before the subscription started at once, "
            "and the subscription completes after the last; an unknown id is an error "
            "(NOT_FOUND). Without, every result the caller may see, until completed."
        ),
    )


class _SubscriptionsSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:  # refusals are the client's business, not the server's errors
            original = error.original_error
            if original is None or isinstance(original, GraphQLError):
                log.info("subscription_refused", path=error.path, reason=error.message)
            else:
                log.error("subscription_failed", error=repr(original), exc_info=original)


def _unexpected(error: GraphQLError) -> bool:
    """Masked: an exception that is not a GraphQLError (the refusals above are), as the
    gateway does; validation and syntax errors have none and are shown as they are."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(*, introspection: bool) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaskErrors(should_mask_error=_unexpected)
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return _SubscriptionsSchema(query=Query, subscription=Subscription, extensions=extensions)


class _Refused(Exception):
    """A connection_init that is answered by closing the connection."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def close_reason(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return text
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


class _TransportHandler(BaseGraphQLTransportWSHandler[ConnectionContext, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except _Refused as refused:
            log.info("graphql_connection_refused", code=refused.code, reason=refused.reason)
            with contextlib.suppress(Exception):
                await self.websocket.close(code=refused.code, reason=close_reason(refused.reason))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.context.max_subscriptions
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"too many subscriptions on this connection: at most {limit}; complete "
                "one first, or open another connection",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


def bearer_of(params: Mapping[str, object], header: str | None) -> str:
    """The token of connection_init's `authorization` (any case of the key), else of the
    Authorization header; AuthFailed when neither holds a bearer token."""
    for key, value in params.items():
        if key.lower() == "authorization" and isinstance(value, str):
            return bearer_token(value)
    if header:
        return bearer_token(header)
    raise AuthFailed(MISSING_TOKEN)


class SubscriptionEndpoint(GraphQL[ConnectionContext, None]):
    graphql_transport_ws_handler_class = _TransportHandler

    def __init__(
        self,
        schema: strawberry.Schema,
        connections: ClientConnections,
        lookup: TaskLookup,
        *,
        allowed_origins: frozenset[str],
        buffer_frames: int,
        buffer_bytes: int,
        max_subscriptions: int,
        lookup_concurrency: int,
        verifier: TokenVerifier | None = None,
    ) -> None:
        # The Origin check is /ws's, made in __call__; the cap on subscriptions is
        # checked by _TransportHandler, with a clearer error than strawberry's.
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_WAIT,
            max_subscriptions_per_connection=None,
            allowed_origins=("*",),
        )
        self.connections, self.lookup, self.verifier = connections, lookup, verifier
        self.allowed, self.max_subscriptions = allowed_origins, max_subscriptions
        self.buffer_frames, self.buffer_bytes = buffer_frames, buffer_bytes
        self.lookup_concurrency = lookup_concurrency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await _refuse_http(send)
            return
        websocket = WebSocket(scope, receive, send)
        origin = websocket.headers.get("origin")
        if not origin_allowed(origin, self.allowed):
            log.info("websocket_origin_refused", origin=origin)
            DISCONNECTS.labels("origin refused").inc()
            await websocket.close(code=POLICY_VIOLATION)  # before accept(): an HTTP 403
            return
        context = ConnectionContext(
            websocket,
            SubscriptionFeed(BufferBudget(self.buffer_frames, self.buffer_bytes)),
            self.lookup,
            self.lookup_concurrency,
            self.max_subscriptions,
        )
        try:
            await self._serve(context)
        finally:
            if context.expiry is not None:
                context.expiry.cancel()
            if context.caller_key is not None:
                CLIENTS.dec()
                await self.connections.close(context.feed, context.caller_key, context.owner)

    async def _serve(self, context: ConnectionContext) -> None:
        handling = asyncio.create_task(self.run(context.websocket, context=context))
        dropped = asyncio.create_task(context.feed.dropped.wait())
        try:
            await asyncio.wait({handling, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            dropped.cancel()
            if not handling.done():  # dropped (or this handler cancelled): close first
                if context.feed.dropped.is_set():
                    await close_dropped(context.websocket, context.feed.drop_reason, failed=False)
                handling.cancel()
            else:  # the client closed, or the protocol ended it: counted as on /ws
                DISCONNECTS.labels("client closed").inc()
            await asyncio.gather(handling, dropped, return_exceptions=True)

    async def on_ws_connect(self, context: ConnectionContext) -> UnsetType | dict[str, object]:
        """Admits the connection at connection_init: its caller, then the caps."""
        caller: Caller | None = None
        token = ""
        if self.verifier is not None:
            try:
                header = context.websocket.headers.get("authorization")
                token = bearer_of(context.connection_params, header)
                caller = await self.verifier.verify(token)
            except AuthFailed as failed:
                REFUSED.labels("unauthenticated").inc()
                raise _Refused(TOKEN_EXPIRED_CODE, str(failed)) from None
            except AuthUnavailable as unavailable:
                REFUSED.labels("auth unavailable").inc()
                raise _Refused(TRY_AGAIN_LATER, str(unavailable)) from None
        owner = caller.sub if caller is not None else None
        client = context.websocket.client
        # Open mode caps per client address, as /ws does.
        key = owner if owner is not None else (client.host if client else "")
        refusal = await self.connections.open(context.feed, key, owner)
        if refusal is not None:
            REFUSED.labels(refusal.reason.split(" (")[0]).inc()
            raise _Refused(refusal.code, refusal.reason)
        context.caller_key, context.owner = key, owner
        CLIENTS.inc()
        if caller is not None and self.verifier is not None:
            context.expiry = asyncio.create_task(
                until_expired(context.feed, self.verifier, caller, token)
            )
        return UNSET  # type: ignore[no-any-return]


async def _refuse_http(send: Send) -> None:
    body = orjson.dumps(
        {"errors": [{"message": QUERIES_ELSEWHERE, "extensions": {"code": "BAD_REQUEST"}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
