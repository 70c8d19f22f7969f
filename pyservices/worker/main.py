"""Composition root of the worker: settings, real adapters, the loops, and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from pyservices.common import lifecycle, ops
from pyservices.common.backoff import until_connected
from pyservices.common.logging import get_logger
from pyservices.worker.adapters.converter import BinconvConverter
from pyservices.worker.adapters.grpc_client import GrpcTaskService
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.flow import HeldBytes, control_flow
from pyservices.worker.ports import Converter
from pyservices.worker.results import ResultSubmitter
from pyservices.worker.settings import WorkerSettings
from pyservices.worker.usecases import TaskProcessor

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
    consumer: TaskConsumer | None = None
    channel = grpc.aio.insecure_channel(settings.task_service_addr, options=CHANNEL_OPTIONS)
    held = HeldBytes(settings.worker_held_bytes)
    submitter = ResultSubmitter(
        GrpcTaskService(channel),
        backoff_cap=settings.retry_backoff_max_seconds,
        message_bytes=settings.worker_result_message_bytes,
        held=held,
    )
    processor = TaskProcessor(
        converter or BinconvConverter(),
        submitter,
        max(1, settings.worker_batch_max),
        batch_bytes=settings.worker_batch_bytes,
        held=held,
    )

    async def broker_ok() -> bool:
        return consumer is not None and consumer.connected

    async def task_service_ok() -> bool:
        return submitter.connected

    server = ops.embedded_server(
        ops.ops_app({"broker": broker_ok, "task_service": task_service_ok}),
        settings.host,
        settings.metrics_port,
    )
    serving = asyncio.create_task(server.serve())
    submitting = asyncio.create_task(submitter.run(stop_submitting := asyncio.Event()))
    processing = asyncio.create_task(processor.run())
    try:
        consumer = await until_connected(
            lambda: TaskConsumer.connect(
                settings.rabbitmq_url,
                settings.worker_prefetch,
                reconnect_interval=settings.broker_reconnect_seconds,
            ),
            stop,
            "broker",
            cap=settings.retry_backoff_max_seconds,
        )
        if consumer is None:
            return
        await consumer.start(processor.receive)
        flowing = asyncio.create_task(control_flow(held, consumer, stop_flow := asyncio.Event()))
        log.info("worker_started", prefetch=settings.worker_prefetch, port=settings.metrics_port)
        await stop.wait()
        # Stop taking work, then let what was taken be converted and answered.
        stop_flow.set()
        await flowing
        await consumer.stop()
        try:
            await asyncio.wait_for(processor.drained(), settings.shutdown_grace_seconds)
        except TimeoutError:
            log.warning("worker_drain_timed_out", in_flight=submitter.in_flight)
        # A quorum queue may drop acks that arrive just before their channel closes
        # (rabbitmq-server issue 10327): those messages would come back as duplicates.
        # Linger a moment so the last settlements are applied before the close.
        await asyncio.sleep(ACK_LINGER_SECONDS)
    finally:
        stop_submitting.set()
        processing.cancel()
        await asyncio.gather(submitting, processing, return_exceptions=True)
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.close()  # whatever is still unacked goes back to the queue
        await channel.close()
        server.should_exit = True
        await serving
        log.info("worker_stopped")


def main() -> None:
    lifecycle.run_service("worker", WorkerSettings(), run)
