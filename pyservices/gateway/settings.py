from __future__ import annotations

from pydantic import model_validator

from pyservices.common.auth import AuthSettings
from pyservices.common.settings import CommonSettings, TaskServiceAddress
from pyservices.webui.page import PageSettings


class GatewaySettings(CommonSettings, TaskServiceAddress, AuthSettings):
    gateway_port: int = 8080
    # Seconds an idle HTTP connection is kept open. Longer than any client or proxy in
    # front keeps one (httpx 5 s, most load balancers and Ingress controllers 60 s):
    # with uvicorn's 5 s, a request sent on a connection the gateway was just closing
    # failed with a bare connection error (a 502 behind a proxy).
    http_keep_alive_seconds: int = 75
    # Per caller (the token's sub; the client's address in open mode), in this process:
    # requests to /query, and tasks sent (a sendTask of n messages costs n). A caller
    # may burst to `*_burst` at once; 0 per second turns a limit off. Far above what one
    # client of the benchmarks sends, so they measure the pipeline, not the limit.
    rate_limit_requests_per_second: float = 500.0
    rate_limit_requests_burst: float = 1000.0
    rate_limit_tasks_per_second: float = 5000.0
    # At least one maximum request (MAX_MESSAGES, 1,000): a full bucket takes it.
    rate_limit_tasks_burst: float = 20000.0
    # When set, /metrics (and /health) are served on this port and /metrics no longer on
    # the public one, so an Ingress routing GATEWAY_PORT cannot expose them.
    metrics_port: int | None = None
    # How long open requests may finish after SIGTERM before they are cut.
    shutdown_grace_seconds: float = 10.0
    grpc_timeout_seconds: float = 10.0
    # The largest reply taken from the task service. A page holds at most its
    # MAX_PAGE_BYTES (16 MiB) of messages and codes plus under 100 bytes a task of ids
    # and timestamps (0.1 MiB for 1,000); one task is at most 576 KiB; sendTask's reply
    # carries no messages. Keep it at least 1 MiB above MAX_PAGE_BYTES.
    grpc_max_receive_bytes: int = 17 * 1024 * 1024
    graphql_introspection: bool = True
    # With tracing on: follow a trace context (`traceparent`) sent by the caller. Off by
    # default, since any caller could then have every request traced at a sampled-down
    # ratio and choose trace ids; turn it on behind a proxy you trust to start traces.
    tracing_follow_callers: bool = False
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    # 1,000 messages written inline in a document are about 1,010 tokens.
    graphql_max_tokens: int = 2500
    # Field selections in one document; far above what the page or any client needs.
    graphql_max_fields: int = 200
    # 1,000 messages of 64 KiB, JSON-encoded, with room for the query around them.
    max_body_bytes: int = 70 * 1024 * 1024
    # Bytes of request bodies worked on at once, each charged its Content-Length before
    # it is read: a body costs the gateway up to about six times its size (one maximum
    # request of emoji text peaks it near 460 MiB; three at once passed its 512 MiB
    # limit), so this is one maximum request and a little more. A request waits for room
    # at most `large_request_wait_seconds`, then gets a retryable 503 UNAVAILABLE;
    # bodies over `large_request_bytes` wait in order of arrival, smaller ones only for
    # room. A body must arrive at 1 MiB/s at least (after 10 s), or 408.
    request_bytes_in_flight: int = 72 * 1024 * 1024
    large_request_bytes: int = 8 * 1024 * 1024
    large_request_wait_seconds: float = 30.0
    # Comma-separated; "*" allows any origin.
    cors_origins: str = "*"

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    # The page at /. Its endpoints, when the page cannot derive them from its own address
    # (GraphQL at /query there, the WebSocket at port 8082 of its host): an absolute URL,
    # or a path on the page's host (PAGE_WEBSOCKET_URL=/ws behind an Ingress).
    page_graphql_url: str = ""
    page_websocket_url: str = ""
    # Comma-separated origins (or exact URLs) that the page's ?graphql= and ?ws= may point
    # at besides the two above; empty: none, so a link cannot aim the page at another site.
    page_allowed_endpoints: str = ""
    # In auth mode, where the page sends a visitor without a token (the operator's login).
    page_login_url: str = ""

    @model_validator(mode="after")
    def _page_endpoints(self) -> GatewaySettings:
        _ = self.page  # a bad endpoint fails at start, not at the first visit
        return self

    @property
    def page(self) -> PageSettings:
        return PageSettings.parse(
            self.page_graphql_url,
            self.page_websocket_url,
            self.page_allowed_endpoints,
            self.page_login_url,
        )
