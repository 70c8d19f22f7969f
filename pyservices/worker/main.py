"""Composition root of the worker: settings, real adapters, the loops, and a clean stop."""

from __future__ import annotations

import asyncio

import grpc

from pyservices.common import lifecycle, ops
from pyservices.common.backoff import until_connected
from pyservices.common.logging import get_logger
from pyservices.common.topology import LARGE_PROCESS_QUEUE, WORK_QUEUES
from pyservices.worker.adapters.converter import BinconvConverter
from pyservices.worker.adapters.grpc_client import GrpcTaskService
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.lane import Lane
from pyservices.worker.ports import Converter
from pyservices.worker.settings import WorkerSettings

log = get_logger(__name__)

# gRPC's own reconnect backoff grows to 120 s by default: a task service back after a
# restart would wait that long for the worker. Keep it in step with our own retries.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


ACK_LINGER_SECONDS = 0.5


async def run(
    settings: WorkerSettings, stop: asyncio.Event, converter: Converter | None = None
) -> None:
    channel = grpc.aio.insecure_channel(settings.task_service_addr, options=CHANNEL_OPTIONS)
    service, kernel = GrpcTaskService(channel), converter or BinconvConverter()
    lanes = [Lane.build(queue, settings, service, kernel) for queue in WORK_QUEUES]

    async def broker_ok() -> bool:
        return all(lane.consumer is not None and lane.consumer.connected for lane in lanes)

    async def task_service_ok() -> bool:
        return all(lane.submitter.connected for lane in lanes)

    server = ops.embedded_server(
        ops.ops_app({"broker": broker_ok, "task_service": task_service_ok}),
        settings.host,
        settings.metrics_port,
    )
    serving = asyncio.create_task(server.serve())
    for lane in lanes:
        lane.run()
    try:
        for lane in lanes:
            consumer = await until_connected(
                lambda queue=lane.queue: TaskConsumer.connect(  # type: ignore[misc]
                    settings.rabbitmq_url,
                    settings.worker_large_prefetch
                    if queue == LARGE_PROCESS_QUEUE
                    else settings.worker_prefetch,
                    queue=queue,
                    reconnect_interval=settings.broker_reconnect_seconds,
                ),
                stop,
                "broker",
                cap=settings.retry_backoff_max_seconds,
            )
            if consumer is None:
                return
            await lane.consume(consumer)
        log.info("worker_started", prefetch=settings.worker_prefetch, port=settings.metrics_port)
        await stop.wait()
        # Stop taking work, then let what was taken be converted and answered.
        for lane in lanes:
            await lane.stop_consuming()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(lane.drained() for lane in lanes)),
                settings.shutdown_grace_seconds,
            )
        except TimeoutError:
            in_flight = sum(lane.submitter.in_flight for lane in lanes)
            log.warning("worker_drain_timed_out", in_flight=in_flight)
        # A quorum queue may drop acks that arrive just before their channel closes
        # (rabbitmq-server issue 10327): those messages would come back as duplicates.
        # Linger a moment so the last settlements are applied before the close.
        await asyncio.sleep(ACK_LINGER_SECONDS)
    finally:
        for lane in lanes:
            await lane.close()
        await channel.close()
        server.should_exit = True
        await serving
        log.info("worker_stopped")


def main() -> None:
    lifecycle.run_service("worker", WorkerSettings(), run)
