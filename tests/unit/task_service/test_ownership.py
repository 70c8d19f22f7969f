"""Owners through every use case of the task service (with the in-memory repository)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from pyservices.common.events import TaskCreated, TaskProcessed
from pyservices.task_service import usecases
from pyservices.task_service.domain import MessageLimits, PageLimits, TaskNotFound
from tests.unit.task_service.fakes import FakeTaskRepository

LIMITS = MessageLimits(max_messages=3, max_message_bytes=64)
PAGES = PageLimits(default_size=10, max_size=10, max_bytes=1000)
A = "01000001"


async def stream(*messages: str) -> AsyncIterator[str]:
    for message in messages:
        yield message


async def send(repo: FakeTaskRepository, owner: str | None, *messages: str) -> list[str]:
    stored = await usecases.receive_tasks(stream(*messages), repo, LIMITS, owner=lambda: owner)
    return [str(task.id) for task in stored]


class TestReceiveTasks:
    async def test_the_tasks_and_their_created_events_carry_the_owner(self) -> None:
        repo = FakeTaskRepository()

        [mine] = await send(repo, "alice", "a")
        [unowned] = await send(repo, None, "b")

        assert repo.tasks[uuid.UUID(mine)].owner == "alice"
        assert repo.tasks[uuid.UUID(unowned)].owner is None
        owners = [TaskCreated.from_json(payload).owner for _, _, payload in repo.outbox]
        assert owners == ["alice", None]


class TestRecordProcessedTasks:
    async def test_the_processed_event_carries_the_tasks_owner(self) -> None:
        repo = FakeTaskRepository()
        [mine] = await send(repo, "alice", "A")

        await usecases.record_processed_tasks([(mine, A, "")], repo, 64)

        event = TaskProcessed.from_json(repo.outbox[-1][2])
        assert (event.id, event.owner) == (mine, "alice")


class TestListTasks:
    async def test_an_owner_lists_only_its_own_tasks(self) -> None:
        repo = FakeTaskRepository()
        alice = await send(repo, "alice", "a1", "a2")
        bob = await send(repo, "bob", "b1")
        await send(repo, None, "o")

        mine = await usecases.list_tasks(0, 0, repo, PAGES, owner="alice")
        theirs = await usecases.list_tasks(0, 0, repo, PAGES, owner="bob")
        everything = await usecases.list_tasks(0, 0, repo, PAGES)

        assert [str(t.id) for t in mine] == alice[::-1]
        assert [str(t.id) for t in theirs] == bob
        assert len(everything) == 4  # open mode


class TestGetTask:
    async def test_another_owners_task_is_not_found_in_the_words_of_an_unknown_id(self) -> None:
        repo = FakeTaskRepository()
        [bobs] = await send(repo, "bob", "b")
        unknown = str(uuid.uuid4())

        with pytest.raises(TaskNotFound) as foreign:
            await usecases.get_task(bobs, repo, owner="alice")
        with pytest.raises(TaskNotFound) as absent:
            await usecases.get_task(unknown, repo, owner="alice")

        assert str(foreign.value) == str(absent.value).replace(unknown, bobs)

    async def test_the_owner_and_open_mode_find_it(self) -> None:
        repo = FakeTaskRepository()
        [bobs] = await send(repo, "bob", "b")

        assert str((await usecases.get_task(bobs, repo, owner="bob")).id) == bobs
        assert str((await usecases.get_task(bobs, repo)).id) == bobs
