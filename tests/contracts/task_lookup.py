"""The WebSocket service's TaskLookup port's contract, run against every adapter.

A subclass supplies the adapter (`lookup`) in front of a task service with no tasks, a
way to create a task (`add`, as sendTask does, of an owner or of none) and to process
one (`process`, as the worker does), and an adapter whose task service is down
(`unreachable_lookup`). Each test states one promise of `TaskLookup` in
`pyservices/websocket/ports.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from pyservices.websocket.domain import LookupUnavailable, UnknownTasks
from pyservices.websocket.ports import TaskLookup

Add = Callable[[str | None], Awaitable[str]]  # (owner) -> the new task's id
Process = Callable[[str, str], Awaitable[None]]  # (task id, binary code)
A = "01000001"


class TaskLookupContract:
    @pytest.fixture
    async def lookup(self) -> TaskLookup:
        raise NotImplementedError("the adapter, before a task service with no tasks")

    @pytest.fixture
    def add(self) -> Add:
        raise NotImplementedError("creates a task of an owner (None: open mode)")

    @pytest.fixture
    def process(self) -> Process:
        raise NotImplementedError("records a binary code for a task, as the worker does")

    @pytest.fixture
    async def unreachable_lookup(self) -> TaskLookup:
        raise NotImplementedError("the adapter, with its task service down")

    async def test_a_task_not_yet_processed_is_none(self, lookup: TaskLookup, add: Add) -> None:
        task_id = await add(None)

        assert await lookup.processed(task_id, None) is None

    async def test_a_processed_task_gives_its_result_and_times(
        self, lookup: TaskLookup, add: Add, process: Process
    ) -> None:
        task_id = await add(None)
        await process(task_id, A)

        result = await lookup.processed(task_id, None)

        assert result is not None
        assert (result.id, result.binary_code) == (task_id, A)
        assert result.created_at.utcoffset() is not None
        assert result.processed_at.utcoffset() is not None
        assert result.created_at <= result.processed_at

    async def test_an_absent_task_is_unknown_by_its_id(self, lookup: TaskLookup) -> None:
        absent = str(uuid.uuid4())

        with pytest.raises(UnknownTasks) as unknown:
            await lookup.processed(absent, None)

        assert unknown.value.ids == [absent]

    async def test_an_owner_finds_its_own_task(
        self, lookup: TaskLookup, add: Add, process: Process
    ) -> None:
        task_id = await add("alice")
        await process(task_id, A)

        result = await lookup.processed(task_id, "alice")

        assert result is not None and result.binary_code == A

    async def test_another_owners_task_is_unknown_as_an_absent_one_is(
        self, lookup: TaskLookup, add: Add, process: Process
    ) -> None:
        task_id = await add("alice")
        await process(task_id, A)

        with pytest.raises(UnknownTasks) as unknown:
            await lookup.processed(task_id, "bob")

        assert unknown.value.ids == [task_id]

    async def test_without_an_owner_every_task_is_found(
        self, lookup: TaskLookup, add: Add, process: Process
    ) -> None:
        task_id = await add("alice")
        await process(task_id, A)

        assert await lookup.processed(task_id, None) is not None

    async def test_a_task_service_that_is_down_is_unavailable(
        self, unreachable_lookup: TaskLookup
    ) -> None:
        with pytest.raises(LookupUnavailable, match="unavailable, retry"):
            await unreachable_lookup.processed(str(uuid.uuid4()), None)
