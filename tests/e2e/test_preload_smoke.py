"""`just bench-e2e --preload N` on a real stack, with a small N: the tasks land in the
stack's database under the benchmark's own, and the pages by cursor and offset agree."""

from __future__ import annotations

import httpx
import pytest

from bench import e2e
from tests.support.client import GraphQLClient
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e


async def test_the_benchmark_runs_on_a_preloaded_table(stack: ServiceProcesses) -> None:
    figures, pages = await e2e.run_preloaded(
        stack.ports.graphql_url,
        stack.ports.websocket_url,
        stack.database_url,
        3_000,
        latency_tasks=20,
        latency_batch=10,
        throughput_tasks=200,
        throughput_batch=50,
        clients=2,
    )

    assert 0 < figures.median_ms <= figures.p99_ms and figures.tasks_per_second > 0
    assert pages.tasks_in_table >= 3_000  # counted once preloaded, before the benchmark
    assert pages.deep == pages.tasks_in_table // e2e.PAGE_SIZE
    assert min(pages.first_ms, pages.deep_by_cursor_ms, pages.deep_by_offset_ms) > 0

    async with httpx.AsyncClient(timeout=30) as http:
        newest = await GraphQLClient(stack.ports.graphql_url, http).tasks(limit=1000)
    # Older than every task the benchmark sent (230 with its warm-up): listed after them.
    messages = [t["message"] for t in newest]
    assert e2e.PRELOAD_MESSAGE not in messages[:230]
    assert set(messages[230:]) == {e2e.PRELOAD_MESSAGE}
