from __future__ import annotations

from prometheus_client import Counter, Histogram

GRAPHQL_REQUESTS = Counter(
    "binconv_graphql_requests_total",
    "GraphQL operations by root field and outcome",
    ["operation", "outcome"],
)
GRAPHQL_REQUEST_SECONDS = Histogram(
    "binconv_graphql_request_seconds",
    "Time to answer one GraphQL operation",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS_ACCEPTED = Counter("binconv_tasks_accepted_total", "Tasks stored through sendTask")
REQUESTS_REFUSED = Counter(
    "binconv_gateway_requests_refused_total",
    "Requests to /query refused before GraphQL ran: no or a bad token (unauthenticated), "
    "the identity provider's keys unreachable (auth unavailable), over the caller's "
    "requests-per-second limit (rate limited)",
    ["reason"],
)
