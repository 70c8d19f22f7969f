"""Rows to put in the outbox and ways to watch the relay and the broker, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg
import httpx
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from prometheus_client.parser import text_string_to_metric_families

from pyservices.common.events import (
    TASK_CREATED_BATCH,
    TaskCreated,
    TaskProcessed,
    split_created,
)


@dataclass(frozen=True)
class RunningRelay:
    task: asyncio.Task[None]
    base_url: str  # its /health and /metrics


class Relays(Protocol):
    """The `relays` fixture: starts a relay (the real `run`) with these settings
    overridden, and returns once it reports healthy."""

    def __call__(self, **overrides: object) -> Awaitable[RunningRelay]: ...


def created(n: int = 1) -> list[tuple[str, str, bytes]]:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        task_id = str(uuid.uuid4())
        rows.append(("task.created", task_id, TaskCreated(task_id, f"m{i}", now).to_json()))
    return rows


def processed(task_id: str, binary_code: str = "01000001") -> tuple[str, str, bytes]:
    now = datetime.now(UTC)
    return ("task.processed", task_id, TaskProcessed(task_id, binary_code, now, now).to_json())


async def insert(database_url: str, rows: list[tuple[str, str, bytes]]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO outbox (topic, task_id, payload)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::bytea[])",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )
    finally:
        await connection.close()


async def outbox_ids(database_url: str) -> list[int]:
    connection = await asyncpg.connect(database_url)
    try:
        return [r["id"] for r in await connection.fetch("SELECT id FROM outbox ORDER BY id")]
    finally:
        await connection.close()


async def wait_until_empty(database_url: str, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while await outbox_ids(database_url):
        assert time.monotonic() < deadline, "outbox not drained"
        await asyncio.sleep(0.05)


async def take(queue: AbstractQueue, count: int, within: float) -> list[AbstractIncomingMessage]:
    got: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        got.put_nowait(message)

    tag = await queue.consume(on_message)
    try:
        return [await asyncio.wait_for(got.get(), within) for _ in range(count)]
    finally:
        await queue.cancel(tag)


@dataclass(frozen=True)
class TaskMessage:
    """One task.created event as the worker sees it, whether it came alone or in a
    `task.created.batch` message."""

    message_id: str | None
    task_id: str
    body: bytes


def tasks_in(messages: list[AbstractIncomingMessage]) -> list[TaskMessage]:
    tasks = []
    for message in messages:
        if message.type != TASK_CREATED_BATCH:
            tasks.append(
                TaskMessage(message.message_id, str(message.headers["task_id"]), message.body)
            )
            continue
        message_ids, task_ids = message.headers["message_ids"], message.headers["task_ids"]
        assert isinstance(message_ids, list) and isinstance(task_ids, list)
        for message_id, task_id, body in zip(
            message_ids, task_ids, split_created(message.body), strict=True
        ):
            tasks.append(TaskMessage(str(message_id), str(task_id), body))
    return tasks


async def take_tasks(queue: AbstractQueue, count: int, within: float) -> list[TaskMessage]:
    """The next `count` tasks from a work queue, batches taken apart."""
    tasks: list[TaskMessage] = []
    enough = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        tasks.extend(tasks_in([message]))
        if len(tasks) >= count:
            enough.set()

    tag = await queue.consume(on_message)
    try:
        await asyncio.wait_for(enough.wait(), within)
    finally:
        await queue.cancel(tag)
    return tasks


async def metric(base_url: str, name: str) -> float:
    """One unlabelled sample of the relay's /metrics (0 when it has none yet)."""
    async with httpx.AsyncClient(timeout=2) as http:
        text = (await http.get(f"{base_url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return 0.0


@contextlib.asynccontextmanager
async def database_outage(database_url: str) -> AsyncIterator[None]:
    """The test's database refuses new connections and its sessions are cut, until the
    block ends: down for the relay, while the server goes on serving other tests."""
    url = urlsplit(database_url)
    name = url.path.lstrip("/")
    # From another database: a session cannot close its own database to connections.
    admin = await asyncpg.connect(url._replace(path="/postgres").geturl())
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            await asyncio.sleep(0.1)  # the clients read the end of their sessions
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()
