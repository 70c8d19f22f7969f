"""Wiring of the worker: each adapter a parameter, the real one by default."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc

from pyservices.common import lifecycle
from pyservices.common.backoff import until_connected
from pyservices.common.lifecycle import SHUTDOWN_STEP_SECONDS, Step
from pyservices.common.logging import get_logger
from pyservices.common.ops import HealthCheck
from pyservices.common.topology import LARGE_PROCESS_QUEUE, WORK_QUEUES
from pyservices.worker.adapters.converter import BinconvConverter
from pyservices.worker.adapters.grpc_client import GrpcTaskService
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.lane import Lane
from pyservices.worker.ports import Converter, DeliverySource, TaskService
from pyservices.worker.settings import WorkerSettings

log = get_logger(__name__)

# gRPC's own reconnect backoff grows to 120 s by default: a task service back after a
# restart would wait that long for the worker. Keep it in step with our own retries.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# A quorum queue may drop acks that arrive just before their channel closes
# (rabbitmq-server issue 10327): those messages would come back as duplicates.
ACK_LINGER_SECONDS = 0.5

# Connects a consumer of one work queue; raises while the broker cannot be reached.
ConnectQueue = Callable[[str], Awaitable[DeliverySource]]


def amqp_consumers(settings: WorkerSettings) -> ConnectQueue:
    async def connect(queue: str) -> DeliverySource:
        large = queue == LARGE_PROCESS_QUEUE
        return await TaskConsumer.connect(
            settings.rabbitmq_url,
            settings.worker_large_prefetch if large else settings.worker_prefetch,
            queue=queue,
            reconnect_interval=settings.broker_reconnect_seconds,
        )

    return connect


class WorkerProcess(lifecycle.Service):
    name = "worker"

    def __init__(
        self,
        settings: WorkerSettings,
        task_service: TaskService,
        converter: Converter,
        consumers: ConnectQueue,
        channel: grpc.aio.Channel | None,
    ) -> None:
        self.settings, self.task_service, self._consumers = settings, task_service, consumers
        self.grace, self.host = settings.shutdown_grace_seconds, settings.host
        self.ops_port = settings.metrics_port
        self.lanes = [Lane.build(q, settings, task_service, converter) for q in WORK_QUEUES]
        self._channel = channel

    @property
    def checks(self) -> Mapping[str, HealthCheck]:
        return {"broker": self._broker_ok, "task_service": self.task_service.ping}

    async def _broker_ok(self) -> bool:
        consumers = [lane.consumer for lane in self.lanes]
        return all([c is not None and await c.ping() for c in consumers])

    def describe(self) -> Mapping[str, Any]:
        return {"prefetch": self.settings.worker_prefetch, "port": self.ops_port}

    async def start(self, stop: asyncio.Event) -> None:
        for lane in self.lanes:
            lane.run()
        for lane in self.lanes:
            consumer = await until_connected(
                lambda queue=lane.queue: self._consumers(queue),  # type: ignore[misc]
                stop,
                "broker",
                cap=self.settings.retry_backoff_max_seconds,
            )
            if consumer is None:
                return
            await lane.consume(consumer)

    async def drain(self, grace: float) -> None:
        # Stop taking work, then let what was taken be converted and answered.
        for lane in self.lanes:
            await lane.stop_consuming()
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*(lane.drained() for lane in self.lanes))
        except TimeoutError:
            in_flight = sum(lane.submitter.in_flight for lane in self.lanes)
            log.warning("worker_drain_timed_out", in_flight=in_flight)
        if any(lane.consumer is not None for lane in self.lanes):
            # Let the last settlements reach the broker before the channels close.
            await asyncio.sleep(ACK_LINGER_SECONDS)

    def closing(self) -> Sequence[Step]:
        # A lane cancels its loops, then closes its consumer (itself a bounded step).
        steps = [
            Step(f"lane_close_{lane.queue}", lane.close, 2 * SHUTDOWN_STEP_SECONDS)
            for lane in self.lanes
        ]
        if (channel := self._channel) is not None:
            steps.append(Step("grpc_channel_close", channel.close))
        return steps


def build(
    settings: WorkerSettings,
    *,
    task_service: TaskService | None = None,
    converter: Converter | None = None,
    consumers: ConnectQueue | None = None,
) -> WorkerProcess:
    channel = None
    if task_service is None:
        channel = grpc.aio.insecure_channel(settings.task_service_addr, options=CHANNEL_OPTIONS)
        task_service = GrpcTaskService(channel)
    return WorkerProcess(
        settings,
        task_service,
        converter or BinconvConverter(),
        consumers or amqp_consumers(settings),
        channel,
    )
