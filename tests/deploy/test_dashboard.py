"""The Grafana dashboard answers "is it keeping up?" with series the services define."""

from __future__ import annotations

import importlib
import json

from prometheus_client import REGISTRY

from devstack.stack import SERVICES

from .manifests import (
    DASHBOARD,
    PROMETHEUS_SERIES,
    dashboard_queries,
    queried_series,
    sample_names,
)


def defined_series() -> set[str]:
    for service in SERVICES:
        importlib.import_module(f"pyservices.{service}.metrics")
    return sample_names(REGISTRY.collect())


def test_every_series_a_panel_queries_is_defined_by_a_service() -> None:
    defined = defined_series() | PROMETHEUS_SERIES
    for title, expressions in dashboard_queries().items():
        assert expressions, f"panel {title!r} has no query"
        for expression in expressions:
            series = queried_series(expression)
            assert series, f"{title!r}: {expression} selects no known series"
            assert series <= defined, f"{title!r} queries undefined {sorted(series - defined)}"


def test_dashboard_has_the_panels_an_operator_asks_for() -> None:
    queried = {
        s for exprs in dashboard_queries().values() for e in exprs for s in queried_series(e)
    }
    wanted = {
        "throughput": {"binconv_tasks_accepted_total", "binconv_worker_tasks_processed_total"},
        "end-to-end latency": {"binconv_end_to_end_seconds_bucket"},
        "backlog": {"binconv_outbox_backlog", "binconv_outbox_oldest_age_seconds"},
        "errors and dead letters": {
            "binconv_graphql_requests_total",
            "binconv_grpc_requests_total",
            "binconv_worker_dead_lettered_total",
            "binconv_outbox_publish_failures_total",
        },
        "connected clients": {"binconv_websocket_clients"},
    }
    for concern, series in wanted.items():
        assert series <= queried, f"no panel for {concern}: {sorted(series - queried)}"


def test_latency_panel_shows_the_median_and_the_99th_percentile() -> None:
    expressions = dashboard_queries()["End-to-end latency"]
    assert any("histogram_quantile(0.5," in e for e in expressions)
    assert any("histogram_quantile(0.99," in e for e in expressions)


def test_the_dashboard_links_to_the_traces_in_jaeger() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    latency = next(p for p in dashboard["panels"] if p["title"] == "End-to-end latency")

    assert variables["jaeger_url"]["query"] == "http://127.0.0.1:16686"  # compose's UI port
    for link in [*dashboard["links"], *latency["links"]]:
        assert link["url"].startswith("${jaeger_url}/search?service=binconv-gateway&"), link
