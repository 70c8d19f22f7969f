"""The end-to-end benchmark runs against a real stack and measures something sane."""

from __future__ import annotations

import pytest

from bench import e2e
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e


async def test_the_e2e_benchmark_runs_on_a_small_workload(stack: ServiceProcesses) -> None:
    figures = await e2e.run(
        stack.ports.graphql_url,
        stack.ports.websocket_url,
        latency_tasks=20,
        latency_batch=10,
        throughput_tasks=200,
        throughput_batch=50,
        clients=2,
    )
    assert 0 < figures.median_ms <= figures.p99_ms <= figures.max_ms
    assert figures.tasks_per_second > 0
