"""Wiring of the gateway: each adapter a parameter, the real one by default."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import grpc

from pyservices.common import auth, lifecycle, ops, tracing
from pyservices.common.admission import BodyBudget
from pyservices.common.lifecycle import Step
from pyservices.gateway.adapters.graphql_app import SchemaLimits
from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.ports import TaskService
from pyservices.gateway.settings import GatewaySettings


class GatewayProcess(lifecycle.Service):
    name = "gateway"

    def __init__(
        self, settings: GatewaySettings, task_service: TaskService, channel: grpc.aio.Channel | None
    ) -> None:
        self.settings, self.task_service, self._channel = settings, task_service, channel
        self.grace, self.host = settings.shutdown_grace_seconds, settings.host
        self.ops_port = settings.metrics_port
        self.app = create_app(
            task_service,
            self.checks,
            limits=SchemaLimits(
                max_depth=settings.graphql_max_depth,
                max_aliases=settings.graphql_max_aliases,
                max_tokens=settings.graphql_max_tokens,
                max_fields=settings.graphql_max_fields,
                introspection=settings.graphql_introspection,
            ),
            max_body_bytes=settings.max_body_bytes,
            cors_origins=settings.cors_origin_list,
            body_budget=BodyBudget(settings.request_bytes_in_flight, settings.large_request_bytes),
            large_request_wait_seconds=settings.large_request_wait_seconds,
            serve_metrics=settings.metrics_port is None,
            verifier=auth.verifier(settings),
            request_buckets=TokenBuckets(
                settings.rate_limit_requests_per_second, settings.rate_limit_requests_burst
            ),
            task_buckets=TokenBuckets(
                settings.rate_limit_tasks_per_second, settings.rate_limit_tasks_burst
            ),
            page=settings.page,
        )
        tracing.instrument_fastapi(self.app)  # only when tracing is on
        self._server: ops.EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def checks(self) -> Mapping[str, ops.HealthCheck]:
        return {"task_service": self.task_service.ping}

    def describe(self) -> Mapping[str, Any]:
        s = self.settings
        mode = "jwks" if s.auth_jwks_url else "hs256" if s.auth_jwt_secret else "open"
        return {"port": s.gateway_port, "task_service": s.task_service_addr, "auth": mode}

    async def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        self._server = ops.embedded_server(
            cast(Any, self.app),
            self.settings.host,
            self.settings.gateway_port,
            timeout_graceful_shutdown=self.grace,
            timeout_keep_alive=self.settings.http_keep_alive_seconds,
        )
        self._serving = asyncio.create_task(self._server.serve())
        return self._serving

    async def drain(self, grace: float) -> None:
        # uvicorn stops accepting, lets open requests finish within the grace, then cuts.
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait({self._serving})

    def closing(self) -> Sequence[Step]:
        channel = self._channel
        return [] if channel is None else [Step("grpc_channel_close", lambda: channel.close(1.0))]


def build(settings: GatewaySettings, *, task_service: TaskService | None = None) -> GatewayProcess:
    channel = None
    if task_service is None:
        channel = open_channel(settings.task_service_addr, settings.grpc_max_receive_bytes)
        task_service = GrpcTaskService(channel, settings.grpc_timeout_seconds)
    return GatewayProcess(settings, task_service, channel)
