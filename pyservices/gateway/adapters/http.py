"""The gateway's HTTP surface: POST /query, /health, /metrics, and the page at /."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter

from pyservices.common.ops import HealthCheck, health_route, metrics_route
from pyservices.gateway.adapters.graphql_app import SchemaLimits, build_schema
from pyservices.gateway.adapters.graphql_schema import Context
from pyservices.gateway.ports import TaskService
from pyservices.webui import STATIC_DIR


def create_app(
    task_service: TaskService,
    checks: Mapping[str, HealthCheck],
    *,
    limits: SchemaLimits | None = None,
    max_body_bytes: int = 70 * 1024 * 1024,
    cors_origins: list[str] | None = None,
) -> FastAPI:
    context: Context = {"task_service": task_service}

    async def get_context() -> Context:
        return context

    graphql = GraphQLRouter[Context, None](
        build_schema(limits or SchemaLimits()),
        path="/query",
        graphql_ide=None,  # GraphiQL loads its assets from a CDN
        allow_queries_via_get=False,
        context_getter=get_context,
        subscription_protocols=(),
    )
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(graphql)
    app.router.routes.append(health_route(checks))
    app.router.routes.append(metrics_route())
    # Last, so that /query, /health and /metrics win over files of the same name.
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins if cors_origins is not None else ["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        max_age=600,
    )
    return app
