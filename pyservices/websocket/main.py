"""Composition root: the broker consumer feeding the client registry, served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from pyservices.common import lifecycle, ops
from pyservices.common.logging import get_logger
from pyservices.websocket.adapters.http import create_app
from pyservices.websocket.adapters.rabbitmq import ProcessedEventsConsumer
from pyservices.websocket.domain import SHUTDOWN, ClientRegistry
from pyservices.websocket.settings import WebSocketSettings
from pyservices.websocket.usecases import push_processed_task

log = get_logger(__name__)
DRAIN_SECONDS = 5.0


async def run(settings: WebSocketSettings, stop: asyncio.Event) -> None:
    registry = ClientRegistry()
    consumer = ProcessedEventsConsumer(
        settings.rabbitmq_url,
        lambda body: push_processed_task(body, registry),
        settings.websocket_prefetch,
        queue_expires_seconds=settings.websocket_queue_expires_seconds,
        queue_max_length=settings.websocket_queue_max_length,
        queue_max_bytes=settings.websocket_queue_max_bytes,
        reconnect_interval=settings.broker_reconnect_seconds,
    )

    async def broker() -> bool:
        return consumer.is_running()

    app = create_app(
        registry,
        {"broker": broker},
        allowed_origins=settings.allowed_origin_set,
        buffer_frames=settings.websocket_client_buffer,
        buffer_bytes=settings.websocket_client_buffer_bytes,
    )
    # Per-message deflate would compress every frame once per client: CPU the pipeline
    # needs more than loopback or LAN needs bandwidth.
    server = ops.embedded_server(
        cast(Any, app),
        settings.host,
        settings.websocket_port,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=DRAIN_SECONDS,
    )
    serving = asyncio.create_task(server.serve())
    connecting = asyncio.create_task(_start_consumer(consumer))
    stopping = asyncio.create_task(stop.wait())
    log.info("websocket_started", port=settings.websocket_port)
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        connecting.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await consumer.stop()  # stop taking events first
        registry.drop_all(SHUTDOWN)  # each handler closes its client with 1001
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(serving, DRAIN_SECONDS + 2)
        log.info("websocket_stopped")
    if serving.done() and not serving.cancelled() and serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]


async def _start_consumer(consumer: ProcessedEventsConsumer) -> None:
    # Until the broker is reachable /health answers 503; once connected, aio-pika's
    # robust connection restores the queue, its binding and the consumer by itself.
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential(multiplier=0.2, max=5),
        before_sleep=lambda state: log.warning(
            "broker_connect_failed",
            attempt=state.attempt_number,
            error=repr(state.outcome.exception() if state.outcome else None),
        ),
    ):
        with attempt:
            await consumer.start()


def main() -> None:
    lifecycle.run_service("websocket", WebSocketSettings(), run)
