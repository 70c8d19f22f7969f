"""The service's ASGI app: `/ws`, `/health` and `/metrics` on one port."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from pyservices.common.auth import TokenVerifier
from pyservices.common.ops import HealthCheck, health_route
from pyservices.websocket.adapters.websocket_endpoint import websocket_endpoint
from pyservices.websocket.domain import ClientRegistry, ConnectionLimits
from pyservices.websocket.usecases import ClientConnections

UNCAPPED = 1 << 62


async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(
    registry: ClientRegistry,
    checks: Mapping[str, HealthCheck],
    *,
    allowed_origins: frozenset[str],
    buffer_frames: int,
    buffer_bytes: int,
    serve_metrics: bool = True,
    connections: ClientConnections | None = None,
    verifier: TokenVerifier | None = None,
) -> Starlette:
    """`connections` admits clients into `registry` (uncapped and unrouted if None);
    `verifier` is None in open mode."""
    if connections is None:
        connections = ClientConnections(registry, ConnectionLimits(UNCAPPED, UNCAPPED))
    # Without /metrics here it is served on the ops port only (METRICS_PORT).
    metrics_routes = [Route("/metrics", metrics, methods=["GET"])] if serve_metrics else []
    return Starlette(
        routes=[
            WebSocketRoute(
                "/ws",
                websocket_endpoint(
                    connections,
                    allowed_origins,
                    buffer_frames=buffer_frames,
                    buffer_bytes=buffer_bytes,
                    verifier=verifier,
                ),
            ),
            health_route(checks),
            *metrics_routes,
        ]
    )
