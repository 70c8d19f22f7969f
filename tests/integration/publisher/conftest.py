"""A channel on the test's virtual host, and relays run through their composition root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from devstack.infra import free_port
from pyservices.publisher.main import run
from pyservices.publisher.settings import PublisherSettings
from tests.integration.publisher.relay_support import Relays, RunningRelay
from tests.support.health import until_healthy


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def relays(database_url: str, rabbitmq_url: str) -> AsyncIterator[Relays]:
    """Starts relays (the real `run`) and waits until each reports healthy; the test's
    database and virtual host unless `database_url` / `rabbitmq_url` are overridden."""
    stop = asyncio.Event()
    running: list[asyncio.Task[None]] = []

    async def start(**overrides: object) -> RunningRelay:
        port = free_port()
        options: dict[str, object] = {
            "database_url": database_url,
            "rabbitmq_url": rabbitmq_url,
            "metrics_port": port,
            **overrides,
        }
        task = asyncio.create_task(run(PublisherSettings(**options), stop))  # type: ignore[arg-type]
        running.append(task)
        relay = RunningRelay(task, f"http://127.0.0.1:{port}")
        await until_healthy(f"{relay.base_url}/health", service=task)
        return relay

    yield start
    stop.set()
    await asyncio.wait_for(asyncio.gather(*running), 20)
