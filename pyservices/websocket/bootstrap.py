"""Wiring of the WebSocket service: each adapter a parameter, the real one by default."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import grpc
from starlette.routing import Route, WebSocketRoute

from pyservices.common import auth, lifecycle, ops, tracing
from pyservices.common.auth import TokenVerifier
from pyservices.common.backoff import until_connected
from pyservices.common.lifecycle import Step
from pyservices.websocket.adapters.graphql_subscriptions import SubscriptionEndpoint, build_schema
from pyservices.websocket.adapters.http import create_app
from pyservices.websocket.adapters.rabbitmq import ProcessedEventsConsumer
from pyservices.websocket.adapters.task_lookup import GrpcTaskLookup, open_channel
from pyservices.websocket.domain import SHUTDOWN, ClientRegistry, ConnectionLimits
from pyservices.websocket.ports import ProcessedEvents, TaskLookup
from pyservices.websocket.settings import WebSocketSettings
from pyservices.websocket.usecases import ClientConnections, push_processed_task


class WebSocketProcess(lifecycle.Service):
    name = "websocket"

    def __init__(
        self,
        settings: WebSocketSettings,
        registry: ClientRegistry,
        events: ProcessedEvents,
        verifier: TokenVerifier | None = None,
        lookup: TaskLookup | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.settings, self.registry, self.events = settings, registry, events
        self._channel = channel
        self.grace, self.host = settings.shutdown_grace_seconds, settings.host
        self.ops_port = settings.metrics_port
        limits = ConnectionLimits(
            settings.websocket_max_connections_per_caller, settings.websocket_max_connections
        )
        connections = ClientConnections(registry, limits, events)
        self.app = create_app(
            registry,
            self.checks,
            allowed_origins=settings.allowed_origin_set,
            buffer_frames=settings.websocket_client_buffer,
            buffer_bytes=settings.websocket_client_buffer_bytes,
            serve_metrics=settings.metrics_port is None,
            connections=connections,
            verifier=verifier,
        )
        if lookup is not None:  # GraphQL subscriptions (docs/subscriptions.md), same caps
            subscriptions = SubscriptionEndpoint(
                build_schema(introspection=settings.graphql_introspection),
                connections,
                lookup,
                allowed_origins=settings.allowed_origin_set,
                buffer_frames=settings.websocket_client_buffer,
                buffer_bytes=settings.websocket_client_buffer_bytes,
                max_subscriptions=settings.graphql_max_subscriptions_per_connection,
                lookup_concurrency=settings.task_lookup_concurrency,
                verifier=verifier,
            )
            self.app.router.routes += [
                WebSocketRoute("/graphql", subscriptions),
                Route("/graphql", subscriptions),
            ]
        self._server: ops.EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[object] | None = None

    @property
    def checks(self) -> Mapping[str, ops.HealthCheck]:
        return {"broker": self.events.ping}

    def describe(self) -> Mapping[str, Any]:
        return {"port": self.settings.websocket_port}

    async def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        # Per-message deflate would compress every frame once per client: CPU the
        # pipeline needs more than loopback or LAN needs bandwidth.
        self._server = ops.embedded_server(
            cast(Any, self.app),
            self.settings.host,
            self.settings.websocket_port,
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=self.grace,
            timeout_keep_alive=self.settings.http_keep_alive_seconds,
        )
        self._serving = asyncio.create_task(self._server.serve())
        # Clients connect while the broker is not there yet (/health answers 503); once
        # connected, aio-pika's robust connection restores the subscription by itself.
        self._connecting = asyncio.create_task(until_connected(self.events.start, stop, "broker"))
        return self._serving

    async def drain(self, grace: float) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await self.events.stop()  # stop taking events first
        self.registry.drop_all(SHUTDOWN)  # each handler closes its client with 1001
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait({self._serving})

    def closing(self) -> Sequence[Step]:
        channel = self._channel
        return [] if channel is None else [Step("grpc_channel_close", lambda: channel.close(1.0))]


def build(
    settings: WebSocketSettings,
    *,
    events: ProcessedEvents | None = None,
    registry: ClientRegistry | None = None,
    verifier: TokenVerifier | None = None,
    lookup: TaskLookup | None = None,
) -> WebSocketProcess:
    """With access control on (AUTH_* set), each client gets only its owner's results,
    routed to this process by owner."""
    tracing.configure_tracing("binconv-websocket")  # on only with an OTLP endpoint set
    if registry is None:  # not `or`: an empty registry is falsy
        registry = ClientRegistry(by_owner=settings.enabled)
    if verifier is None:
        verifier = auth.verifier(settings)
    if events is None:
        clients = registry
        events = ProcessedEventsConsumer(
            settings.rabbitmq_url,
            lambda body: push_processed_task(body, clients),
            settings.websocket_prefetch,
            queue_expires_seconds=settings.websocket_queue_expires_seconds,
            queue_max_length=settings.websocket_queue_max_length,
            queue_max_bytes=settings.websocket_queue_max_bytes,
            reconnect_interval=settings.broker_reconnect_seconds,
            by_owner=registry.by_owner,
        )
    channel = None
    if lookup is None:
        channel = open_channel(settings.task_service_addr)
        lookup = GrpcTaskLookup(channel, settings.task_lookup_timeout_seconds)
    return WebSocketProcess(settings, registry, events, verifier, lookup, channel)
