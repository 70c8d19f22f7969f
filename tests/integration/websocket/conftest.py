"""What the WebSocket service's integration tests share: a publisher of results to the
fanout on the real RabbitMQ, and a real task service (gRPC on PostgreSQL) to look up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.websocket.task_service_harness import TaskService, running_task_service
from tests.integration.websocket.websocket_harness import Publisher, open_publisher


@pytest.fixture
async def publisher(rabbitmq_url: str) -> AsyncIterator[Publisher]:
    async with open_publisher(rabbitmq_url) as opened:
        yield opened


@pytest.fixture
async def tasks(database_url: str) -> AsyncIterator[TaskService]:
    async with running_task_service(database_url) as service:
        yield service
