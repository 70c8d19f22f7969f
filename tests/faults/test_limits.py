"""The documented maximum, against the real stack: requests of 1,000 messages of 64 KiB
flow through in bounded pieces while short tasks keep flowing, a queue that already
holds maximum-size tasks drains by itself, and no service passes its deployed memory
limit. Each case ends with the ledger (nothing lost, one event of each kind per task,
codes right, outbox and queues drained)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import pytest

from pyservices.common.topology import LARGE_PROCESS_QUEUE
from tests.faults.conftest import FaultStack
from tests.faults.maximum import (
    MAX_MESSAGES,
    maximum_messages,
    memory_limits_mib,
    over_limit,
    peak_rss_mib,
    send_maximum,
)
from tests.faults.probes import connect_and_never_read, metric_lines
from tests.faults.trial import Trial, latency_figures

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

SETTLE_SECONDS = 240.0


async def test_three_maximum_requests_at_once_flow_through_beside_short_tasks(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    async with _at_maximum(stack, "three requests of 1,000 x 64 KiB at once", rate=20) as trial:
        await trial.load.wait_accepted(20)
        started = time.perf_counter()
        async with httpx.AsyncClient() as http:
            stored = await asyncio.gather(
                *(
                    send_maximum(http, stack.ports.graphql_url, maximum_messages(f"big{n}"))
                    for n in range(3)
                )
            )
        accepted_in = time.perf_counter() - started
        for tasks in stored:
            trial.also_accepted.update(tasks)
        await _delivered(trial)
        processed_in = time.perf_counter() - started
        peaks = peak_rss_mib(stack.processes.running)

    assert over_limit(peaks, memory_limits_mib()) == {}
    latency = latency_figures(trial.load, trial.feeds[0])
    notes = (
        f"3 x {MAX_MESSAGES} x 64 KiB accepted in {accepted_in:.1f} s, every result pushed "
        f"in {processed_in:.1f} s; short tasks meanwhile p50 {latency['p50_ms']} ms, p99 "
        f"{latency['p99_ms']} ms; peak RSS MiB {_figures(peaks)}"
    )
    trial.save("9-maximum-requests", notes)


async def test_a_queue_full_of_maximum_size_tasks_at_start_drains_by_itself(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    for service in ("task_service", "publisher", "websocket", "gateway"):
        await stack.start(service)
    async with _at_maximum(
        stack, "the worker starts on 2,000 maximum-size tasks queued", rate=10
    ) as trial:
        async with httpx.AsyncClient() as http:
            for n in range(2):
                url = stack.ports.graphql_url
                trial.also_accepted.update(
                    await send_maximum(http, url, maximum_messages(f"queued{n}"))
                )
        await _until_queued(stack, len(trial.also_accepted), seconds=120)
        await stack.start("worker")
        trial.healed()
        await _delivered(trial)
        peaks = peak_rss_mib(stack.processes.running)

    assert over_limit(peaks, memory_limits_mib()) == {}
    notes = f"peak RSS MiB {_figures(peaks)}"
    trial.save("10-queue-of-maximum-tasks", notes)


def _at_maximum(
    stack: FaultStack, fault: str, rate: int
) -> contextlib.AbstractAsyncContextManager[Trial]:
    """A steady load of short tasks (batches of 2) while the block sends maximum
    requests; the listeners keep digests of the codes, the ledger waits long enough."""
    return stack.under_load(
        fault, keep_codes=False, settle_seconds=SETTLE_SECONDS, rate=rate, batch=2
    )


async def _store_maximum(stack: FaultStack, trial: Trial, label: str) -> None:
    """One maximum request beside the load; its tasks join the ledger's."""
    async with httpx.AsyncClient() as http:
        stored = await send_maximum(http, stack.ports.graphql_url, maximum_messages(label))
    trial.also_accepted.update(stored)


async def _delivered(trial: Trial) -> None:
    """Until every listener has the result of every task the block stored itself."""
    tasks = set(trial.also_accepted)
    await asyncio.gather(*(feed.wait_for(tasks, SETTLE_SECONDS) for feed in trial.feeds))


async def _until_queued(stack: FaultStack, count: int, seconds: float) -> None:
    pipeline = stack.pipeline
    ready = 0
    async with asyncio.timeout(seconds):
        while ready < count:
            depths = await asyncio.to_thread(pipeline.rabbitmq.queue_depths, pipeline.vhost)
            ready = depths.get(LARGE_PROCESS_QUEUE, (0, 0))[0]
            await asyncio.sleep(0.5)


def _figures(peaks: dict[str, float]) -> str:
    return ", ".join(f"{name} {peak:.0f}" for name, peak in sorted(peaks.items()))


async def test_a_slow_client_is_dropped_while_maximum_size_results_flow(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    async with _at_maximum(
        stack, "a client that never reads while 1,000 x 64 KiB results flow", rate=10
    ) as trial:
        stalled = await connect_and_never_read(stack.ports.websocket)
        await _store_maximum(stack, trial, "slow")
        await _delivered(trial)
        dropped = await metric_lines(stack, "websocket", "binconv_websocket_disconnects_total")
        peaks = peak_rss_mib(stack.processes.running)
        stalled.close()

    assert dropped == {'binconv_websocket_disconnects_total{reason="too slow"}': 1.0}
    assert over_limit(peaks, memory_limits_mib()) == {}
    notes = (
        f"only the non-reader was dropped (close code 4000); WebSocket service peak RSS "
        f"{peaks['websocket']:.0f} MiB"
    )
    trial.save("11-slow-client-maximum-results", notes)


TASKS_IDS = "query($l: Int) { tasks(limit: $l) { id } }"
TASKS_CODES = "query($l: Int) { tasks(limit: $l) { id binaryCode } }"


async def test_a_page_of_maximum_size_tasks_is_bounded_or_refused_saying_how_to_page(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    async with _at_maximum(
        stack, "tasks(limit: 1000) on a table of maximum-size tasks", rate=10
    ) as trial:
        await _store_maximum(stack, trial, "page")
        await _delivered(trial)
        async with httpx.AsyncClient(timeout=60) as http:
            url = stack.ports.graphql_url

            ids = (await _query(http, url, TASKS_IDS, MAX_MESSAGES))["data"]["tasks"]
            refused = await _query(http, url, TASKS_CODES, MAX_MESSAGES)
            [error] = refused["errors"]
            fitting = int(error["message"].split("(limit: ")[1].split(")")[0])
            page = (await _query(http, url, TASKS_CODES, fitting))["data"]["tasks"]
        peaks = peak_rss_mib(stack.processes.running)

    assert len(ids) == MAX_MESSAGES
    assert "ask for at most" in error["message"] and refused.get("data") is None
    assert 0 < fitting < MAX_MESSAGES and len(page) == fitting
    assert over_limit(peaks, memory_limits_mib()) == {}
    notes = (
        f"ids of 1,000: answered; codes of 1,000: refused, {error['message']!r}; "
        f"codes of {fitting}: answered; peak RSS MiB {_figures(peaks)}"
    )
    trial.save("12-page-of-maximum-tasks", notes)


async def _query(http: httpx.AsyncClient, url: str, query: str, limit: int) -> dict[str, Any]:
    response = await http.post(url, json={"query": query, "variables": {"l": limit}})
    body: dict[str, Any] = response.json()
    return body
