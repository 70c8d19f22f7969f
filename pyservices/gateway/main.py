"""Composition root: one gRPC channel, the GraphQL app on uvicorn, a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from pyservices.common import lifecycle, ops
from pyservices.common.admission import BodyBudget
from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_app import SchemaLimits
from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.settings import GatewaySettings

log = get_logger(__name__)
DRAIN_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 65


async def run(settings: GatewaySettings, stop: asyncio.Event) -> None:
    channel = open_channel(settings.task_service_addr, settings.grpc_max_receive_bytes)
    task_service = GrpcTaskService(channel, settings.grpc_timeout_seconds)
    app = create_app(
        task_service,
        {"task_service": task_service.is_reachable},
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
    )
    server = ops.embedded_server(
        cast(Any, app),
        settings.host,
        settings.gateway_port,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        # Longer than clients and load balancers keep an idle connection (httpx 5 s, most
        # balancers 60 s): with uvicorn's 5 s, a client's request on a connection the
        # server was just closing failed with a bare connection error.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    log.info("gateway_started", port=settings.gateway_port, task_service=settings.task_service_addr)
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, DRAIN_SECONDS + 2)
        await channel.close(grace=1.0)
        log.info("gateway_stopped")
    if serving.done() and not serving.cancelled() and serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]


def main() -> None:
    lifecycle.run_service("gateway", GatewaySettings(), run)
