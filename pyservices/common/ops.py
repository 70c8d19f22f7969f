"""The operations endpoints every service serves: `/health` and `/metrics`.

`/health` runs the service's dependency checks (each an async callable that raises or
returns False when its dependency is unusable) and answers 503 naming the failing ones,
so an orchestrator restarts or stops routing to a service that lost its broker or its
database instead of trusting a constant "ok".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HealthCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_S = 2.0


async def run_checks(checks: Mapping[str, HealthCheck]) -> tuple[bool, dict[str, str]]:
    async def one(check: HealthCheck) -> str:
        try:
            return "ok" if await asyncio.wait_for(check(), CHECK_TIMEOUT_S) else "down"
        except Exception as exc:  # a failing check is a finding, not an error
            return f"down: {type(exc).__name__}"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    status = dict(zip(names, results, strict=True))
    return all(result == "ok" for result in results), status


def health_route(checks: Mapping[str, HealthCheck], path: str = "/health") -> Route:
    async def health(_: Request) -> JSONResponse:
        healthy, status = await run_checks(checks)
        body = {"status": "ok" if healthy else "unavailable", "checks": status}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return Route(path, health, methods=["GET"])


async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def metrics_route(path: str = "/metrics") -> Route:
    """An exact route: a mounted app would redirect `/metrics` to `/metrics/`."""
    return Route(path, metrics, methods=["GET"])


def ops_routes(checks: Mapping[str, HealthCheck]) -> list[Route]:
    return [health_route(checks), metrics_route()]


def ops_app(checks: Mapping[str, HealthCheck]) -> Starlette:
    return Starlette(routes=ops_routes(checks))


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service's own loop.

    Start it with `asyncio.create_task(server.serve())`; stop it with
    `server.should_exit = True` and await the task (it drains open requests).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: Any = None) -> None:
        # uvicorn calls sys.exit() when it cannot bind; a SystemExit escaping a task
        # stops the loop without the service's cleanup, so make it an ordinary error.
        try:
            await super().serve(sockets)
        except SystemExit as exit_:
            raise RuntimeError(f"HTTP server failed to start (exit code {exit_.code})") from None


def embedded_server(app: Any, host: str, port: int, **options: Any) -> EmbeddedServer:
    """`app`: any ASGI application (uvicorn's own type rejects Starlette's)."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, **options)
    return EmbeddedServer(config)
