"""The worker as bootstrap wires it, with fakes at every port, run by the lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.common.ops import run_checks
from pyservices.common.topology import PROCESS_QUEUE, WORK_QUEUES
from pyservices.worker.bootstrap import WorkerProcess, build
from pyservices.worker.ports import Delivery, DeliverySource
from pyservices.worker.settings import WorkerSettings
from tests.unit.worker.worker_fakes import (
    FakeConverter,
    FakeDeliverySource,
    FakeTaskService,
    task_body,
)


class Source(FakeDeliverySource):
    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        await super().start(on_delivery)
        self.started.set()


async def all_started(sources: dict[str, Source]) -> None:
    await asyncio.wait_for(asyncio.gather(*(s.started.wait() for s in sources.values())), 5)


def wired(
    grace: float = 1.0,
) -> tuple[WorkerProcess, FakeTaskService, dict[str, Source]]:
    sources = {queue: Source() for queue in WORK_QUEUES}

    async def consumers(queue: str) -> DeliverySource:
        return sources[queue]

    service = FakeTaskService()
    settings = WorkerSettings(metrics_port=free_port(), shutdown_grace_seconds=grace)
    worker = build(settings, task_service=service, converter=FakeConverter(), consumers=consumers)
    return worker, service, sources


async def test_converts_a_delivery_reports_healthy_and_drains_on_stop() -> None:
    worker, service, sources = wired()
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(worker, stop))
    delivery_source = sources[PROCESS_QUEUE]
    await all_started(sources)

    delivery_source.publish(task_body("t-1", "A"))
    result = await asyncio.wait_for(service.arrived.get(), 5)
    assert (result.task_id, result.binary_code) == ("t-1", "01000001")
    assert await run_checks(worker.checks) == (True, {"broker": "ok", "task_service": "ok"})

    stop.set()
    await asyncio.wait_for(running, 5)
    assert delivery_source.unsettled == []  # answered and acknowledged before the close
    assert not delivery_source.consuming


async def test_reports_each_port_that_fails_its_ping() -> None:
    worker, service, sources = wired()
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(worker, stop))
    await all_started(sources)

    sources[PROCESS_QUEUE].disconnect()
    service.reachable = False

    assert await run_checks(worker.checks) == (False, {"broker": "down", "task_service": "down"})
    stop.set()
    await asyncio.wait_for(running, 5)


async def test_is_unhealthy_until_every_lane_has_its_consumer() -> None:
    worker, _, _ = wired()

    assert (await run_checks(worker.checks))[1]["broker"] == "down"
