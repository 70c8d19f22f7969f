"""The gateway's HTTP surface: POST /query, /health, /metrics, and the page at /."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, overload

import orjson
from cross_web import HTTPException, StarletteRequestAdapter
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UNSET

from pyservices.common.admission import BodyBudget
from pyservices.common.auth import TokenVerifier
from pyservices.common.ops import HealthCheck, health_route, metrics_route
from pyservices.gateway.adapters.access import CallerAccess
from pyservices.gateway.adapters.admission import LargeRequestAdmission
from pyservices.gateway.adapters.graphql_app import SchemaLimits, build_schema
from pyservices.gateway.adapters.graphql_schema import Context
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.ports import TaskService
from pyservices.webui import STATIC_DIR
from pyservices.webui.page import PageSettings, page_routes

REFUSAL_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class BodyReadOnce(StarletteRequestAdapter):
    """The request body, read without keeping it: Starlette's `Request.body()` holds it
    for the whole request, so a maximum sendTask (64 MiB of messages) kept its body
    beside the parsed messages while they were stored and answered."""

    async def get_body(self) -> bytes:
        return b"".join([chunk async for chunk in self._request.stream()])


class GatewayRouter(GraphQLRouter[Context, None]):
    """Strawberry's router, with its refusals of the request itself as GraphQL bodies.

    Strawberry answers a body it cannot parse in plain text, and one that is not UTF-8
    with a 500 (it catches only `JSONDecodeError`). Clients read `errors[0].message`
    for every other refusal, so they get it here too, with the same status code. (The
    body-size limit answers 413 before the router runs, in plain text.)
    """

    request_adapter_class = BodyReadOnce

    def decode_json(self, data: str | bytes) -> object:
        # orjson parses the UTF-8 bytes directly; json.loads first decodes the whole body
        # into one str, which for a body with one emoji in it is 4 bytes a character
        # (PEP 393): 256 MiB more for a maximum request. What orjson refuses and the
        # standard library reads (a lone surrogate escape, NaN, huge integers) is read as
        # before, so that the refusal names the message at fault.
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(data)
        except UnicodeDecodeError as error:  # strawberry then says it is not JSON
            raise json.JSONDecodeError("not UTF-8", "", 0) from error

    @overload
    async def run(
        self, request: Request, context: Context = ..., root_value: None = ...
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = ..., root_value: None = ...
    ) -> WebSocket: ...

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response | WebSocket:
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as refusal:
            code = REFUSAL_CODES.get(refusal.status_code, "BAD_REQUEST")
            return JSONResponse(
                {"errors": [{"message": refusal.reason, "extensions": {"code": code}}]},
                status_code=refusal.status_code,
            )
        retry_after = context.get("retry_after") if isinstance(context, dict) else None
        if retry_after is not None and isinstance(response, Response):
            # A resolver refused the caller's rate: the errors body says so, and the
            # status too, for clients and proxies that read only that.
            response.status_code = 429
            response.headers["retry-after"] = str(retry_after)
        return response


def create_app(
    task_service: TaskService,
    checks: Mapping[str, HealthCheck],
    *,
    limits: SchemaLimits | None = None,
    max_body_bytes: int = 70 * 1024 * 1024,
    cors_origins: list[str] | None = None,
    body_budget: BodyBudget | None = None,
    large_request_wait_seconds: float = 30.0,
    serve_metrics: bool = True,
    verifier: TokenVerifier | None = None,
    request_buckets: TokenBuckets | None = None,
    task_buckets: TokenBuckets | None = None,
    page: PageSettings | None = None,
) -> FastAPI:
    """Without a verifier the API is open (no owners, as the original); without
    buckets, unlimited."""

    async def get_context(request: Request) -> Context:
        context: Context = {"task_service": task_service, "task_buckets": task_buckets}
        caller = request.scope.get("state", {}).get("caller")
        if caller is not None:
            context["caller"] = caller
        elif verifier is not None:
            # Fail closed: a route that skipped access control must not read as open mode.
            raise HTTPException(status_code=401, reason="no verified caller")
        return context

    graphql = GatewayRouter(
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
    if serve_metrics:  # otherwise on the ops port only (METRICS_PORT)
        app.router.routes.append(metrics_route())
    # The page and its config.js, told whether a token is needed.
    app.router.routes.extend(page_routes(page or PageSettings(), auth=verifier is not None))
    # Last, so that /query, /health and /metrics win over files of the same name.
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    # Outside the body limit, so a waiting request has had nothing of its body read.
    app.add_middleware(
        LargeRequestAdmission,
        budget=body_budget or BodyBudget(72 * 1024 * 1024, 8 * 1024 * 1024),
        wait_seconds=large_request_wait_seconds,
        max_body_bytes=max_body_bytes,
    )
    # Outside the admission: a caller without a token, or over its rate, holds no budget.
    # Inside CORS, so that a browser can read the refusal.
    app.add_middleware(
        CallerAccess,
        verifier=verifier,
        request_buckets=request_buckets or TokenBuckets(rate=0, burst=0),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins if cors_origins is not None else ["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        max_age=600,
    )
    return app
