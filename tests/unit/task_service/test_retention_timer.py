"""Retention as the Task Service runs it: on a timer, only when TASK_RETENTION_DAYS is
set, through an outage of the store, and stopped with the service."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.task_service.bootstrap import build
from pyservices.task_service.domain import NewTask
from pyservices.task_service.settings import TaskServiceSettings
from tests.unit.task_service.fakes import FakeTaskRepository


async def stored(count: int) -> FakeTaskRepository:
    """A store of `count` tasks created in January 2026 (the fake's clock): long ago."""
    repository = FakeTaskRepository()
    await repository.add_tasks([NewTask(uuid.uuid4(), f"m{i}") for i in range(count)])
    return repository


def settings(**retention: Any) -> TaskServiceSettings:
    return TaskServiceSettings(
        task_service_port=free_port(),
        metrics_port=free_port(),
        shutdown_grace_seconds=1,
        task_retention_interval_seconds=0.05,
        task_retention_batch=2,
        **retention,
    )


async def removed_all(repository: FakeTaskRepository, seconds: float = 5) -> bool:
    """Whether the store is empty within `seconds`, looking every 10 ms."""
    for _ in range(int(seconds * 100)):
        if not repository.tasks:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_old_tasks_are_removed_in_batches_on_a_timer_through_an_outage() -> None:
    repository = await stored(5)
    repository.unavailable = True  # the first turns find the store down
    service = build(settings(task_retention_days=1), repository=repository)
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(service, stop))

    await asyncio.sleep(0.2)
    assert len(repository.tasks) == 5
    repository.unavailable = False
    assert await removed_all(repository)  # 5 tasks, 2 a batch: one turn

    stop.set()
    await asyncio.wait_for(running, 5)
    assert running.result() is None


async def test_without_a_retention_setting_nothing_is_removed() -> None:
    repository = await stored(3)
    service = build(settings(), repository=repository)
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(service, stop))

    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert len(repository.tasks) == 3


@pytest.mark.parametrize(
    "setting",
    [
        {"task_retention_batch": 0},
        {"task_retention_interval_seconds": 0},
        {"task_retention_days": -1},
    ],
)
def test_a_retention_setting_that_would_spin_or_fail_is_refused_at_start(
    setting: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        TaskServiceSettings(**setting)
