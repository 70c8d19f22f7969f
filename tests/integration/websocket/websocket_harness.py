"""Helpers: the WebSocket service started in-process on a free port, and an event publisher."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika

from devstack.infra import free_port
from pyservices.common.events import TaskProcessed
from pyservices.common.topology import declare_processed_routing, owner_routing_key
from pyservices.websocket.main import run
from pyservices.websocket.settings import WebSocketSettings
from tests.support.health import until_healthy

StartService = Callable[..., contextlib.AbstractAsyncContextManager[str]]


def service_starter(rabbitmq_url: str) -> StartService:
    """Starts one service instance; yields its ws:// URL of /ws once it is healthy."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[str]:
        port = free_port()
        settings = WebSocketSettings(rabbitmq_url=rabbitmq_url, websocket_port=port, **overrides)
        stop = asyncio.Event()
        service = asyncio.create_task(run(settings, stop))
        try:
            await until_healthy(f"http://127.0.0.1:{port}/health", service=service)
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            stop.set()
            await asyncio.wait_for(service, 20)

    return start


class Publisher:
    def __init__(self, exchange: aio_pika.abc.AbstractExchange) -> None:
        self.exchange = exchange

    async def publish(
        self, count: int, binary_code: str = "01000001", *, owner: str | None = None
    ) -> list[str]:
        """Results as the relay publishes them (of `owner`'s tasks, or of open mode's)."""
        ids = [str(uuid.uuid4()) for _ in range(count)]
        now = datetime.now(UTC)
        for task_id in ids:
            body = TaskProcessed(task_id, binary_code, now, now, owner=owner).to_json()
            await self.exchange.publish(
                aio_pika.Message(body, content_type="application/json"),
                routing_key=owner_routing_key(owner),
            )
        return ids


@contextlib.asynccontextmanager
async def open_publisher(rabbitmq_url: str) -> AsyncIterator[Publisher]:
    connection = await aio_pika.connect_robust(rabbitmq_url, reconnect_interval=0.5)
    try:
        channel = await connection.channel()
        yield Publisher(await declare_processed_routing(channel))
    finally:
        await connection.close()
