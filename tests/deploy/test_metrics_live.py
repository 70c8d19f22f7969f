"""The whole stack as processes: after a run, every series the dashboard queries is
exported by a running service, and each stage's counters equal the tasks sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import SERVICES
from tests.support.client import GraphQLClient, result_feed
from tests.support.processes import ServiceProcesses

from .manifests import PROMETHEUS_SERIES, dashboard_queries, queried_series, sample_names

pytestmark = pytest.mark.e2e

TASKS = 40

# service -> (series, labels) -> the value it must reach after TASKS tasks, one client
EXPECTED: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {
    "gateway": {("binconv_tasks_accepted_total", ()): TASKS},
    "task_service": {
        ("binconv_tasks_created_total", ()): TASKS,
        ("binconv_tasks_processed_total", ()): TASKS,
    },
    "publisher": {
        ("binconv_outbox_published_total", (("topic", "task.created"),)): TASKS,
        ("binconv_outbox_published_total", (("topic", "task.processed"),)): TASKS,
    },
    "worker": {("binconv_worker_tasks_processed_total", ()): TASKS},
    "websocket": {
        ("binconv_websocket_frames_pushed_total", ()): TASKS,
        ("binconv_end_to_end_seconds_count", ()): TASKS,
    },
}


async def scrape(http: httpx.AsyncClient, stack: ServiceProcesses) -> dict[str, list[object]]:
    async def one(service: str) -> list[object]:
        url = stack.ports.health_url(service).removesuffix("/health") + "/metrics"
        response = await http.get(url)
        response.raise_for_status()
        return list(text_string_to_metric_families(response.text))

    pages = await asyncio.gather(*(one(service) for service in SERVICES))
    return dict(zip(SERVICES, pages, strict=True))


def value(families: list[object], series: str, labels: tuple[tuple[str, str], ...]) -> float:
    for family in families:
        for sample in family.samples:  # type: ignore[attr-defined]
            if sample.name == series and set(labels) <= set(sample.labels.items()):
                return float(sample.value)
    return 0.0


async def until(condition: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Poll a scrape: counters are bumped just after the result goes on its way, and
    a /metrics page cannot be awaited as an event."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "counters did not settle"
        await asyncio.sleep(0.1)


async def test_after_a_run_the_counters_equal_the_tasks_and_the_dashboard_series_exist(
    stack: ServiceProcesses, graphql: GraphQLClient
) -> None:
    async with result_feed(stack.ports.websocket_url) as feed:
        sent = await graphql.send_tasks([f"metrics {i} é ✓" for i in range(TASKS)])
        await feed.wait_for({task["id"] for task in sent}, 30)

    pages: dict[str, list[object]] = {}
    async with httpx.AsyncClient(timeout=10) as http:

        async def settled() -> bool:
            pages.update(await scrape(http, stack))
            return all(
                value(pages[service], series, labels) == wanted
                for service, expected in EXPECTED.items()
                for (series, labels), wanted in expected.items()
            )

        try:
            await until(settled, 15)
        except AssertionError:
            found = {
                (service, series, labels): value(pages[service], series, labels)
                for service, expected in EXPECTED.items()
                for series, labels in expected
            }
            pytest.fail(f"{TASKS} tasks sent, counters are {found}")

    exported = set().union(*(sample_names(page) for page in pages.values())) | PROMETHEUS_SERIES
    for title, expressions in dashboard_queries().items():
        for expression in expressions:
            missing = queried_series(expression) - exported
            assert not missing, f"panel {title!r} queries {sorted(missing)}: no service exports it"
