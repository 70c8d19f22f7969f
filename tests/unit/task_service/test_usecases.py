from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

import pytest

from pyservices.common.events import TaskCreated, TaskProcessed
from pyservices.task_service import usecases
from pyservices.task_service.domain import (
    AckStatus,
    InvalidRequest,
    MessageLimits,
    Overloaded,
    PageLimits,
    TaskFields,
    TaskNotFound,
)
from pyservices.task_service.ports import RepositoryUnavailable
from tests.unit.task_service.fakes import FakeTaskRepository

LIMITS = MessageLimits(max_messages=3, max_message_bytes=64)
PAGES = PageLimits(default_size=2, max_size=10, max_bytes=100)
IDS_ONLY = TaskFields(message=False, binary_code=False)
A, HI = "01000001", "0110100001101001"


async def stream(messages: Iterable[str], read: list[str] | None = None) -> AsyncIterator[str]:
    for message in messages:
        if read is not None:
            read.append(message)
        yield message


async def add(repo: FakeTaskRepository, *messages: str) -> list[str]:
    stored = await usecases.receive_tasks(stream(messages), repo, LIMITS)
    return [str(task.id) for task in stored]


class TestReceiveTasks:
    async def test_refuses_new_tasks_while_the_backlog_is_over_its_bound(self) -> None:
        repo = FakeTaskRepository()
        await usecases.receive_tasks(stream(["a", "b", "c"]), repo, LIMITS, max_backlog=2)

        with pytest.raises(Overloaded, match="over the limit of 2"):
            await usecases.receive_tasks(stream(["d"]), repo, LIMITS, max_backlog=2)
        assert len(repo.tasks) == 3

        repo.published = 1
        await usecases.receive_tasks(stream(["d"]), repo, LIMITS, max_backlog=2)
        assert len(repo.tasks) == 4

    async def test_stores_the_messages_exactly_as_sent_in_order(self) -> None:
        repo = FakeTaskRepository()
        stored = await usecases.receive_tasks(stream([" a ", "b"]), repo, LIMITS)
        assert [t.message for t in stored] == [" a ", "b"]
        assert not any(t.processed or t.binary_code for t in stored)
        assert set(repo.tasks) == {t.id for t in stored}

    async def test_writes_one_created_event_per_task(self) -> None:
        repo = FakeTaskRepository()
        stored = await usecases.receive_tasks(stream(["a", "b"]), repo, LIMITS)
        events = [TaskCreated.from_json(payload) for _, _, payload in repo.outbox]
        assert [(e.id, e.message) for e in events] == [(str(t.id), t.message) for t in stored]
        assert all(e.created_at == t.created_at for e, t in zip(events, stored, strict=True))

    async def test_stores_nothing_of_a_request_with_one_bad_message(self) -> None:
        repo = FakeTaskRepository()
        with pytest.raises(InvalidRequest, match=r"messages\[1\]"):
            await usecases.receive_tasks(stream(["a", "  ", "c"]), repo, LIMITS)
        assert repo.tasks == {}
        assert repo.outbox == []

    async def test_stops_reading_once_the_count_limit_is_exceeded(self) -> None:
        read: list[str] = []
        with pytest.raises(InvalidRequest, match="too many messages"):
            await usecases.receive_tasks(stream(["m"] * 100, read), FakeTaskRepository(), LIMITS)
        assert len(read) == LIMITS.max_messages + 1

    async def test_passes_an_outage_on(self) -> None:
        repo = FakeTaskRepository()
        repo.unavailable = True
        with pytest.raises(RepositoryUnavailable):
            await usecases.receive_tasks(stream(["a"]), repo, LIMITS)


class TestRecordProcessedTasks:
    async def test_records_a_result_and_writes_one_processed_event(self) -> None:
        repo = FakeTaskRepository()
        [task_id] = await add(repo, "A")
        acks = await usecases.record_processed_tasks([(task_id, A, "")], repo, 64)
        assert [(a.id, a.status) for a in acks] == [(task_id, AckStatus.ACCEPTED)]
        task = repo.tasks[uuid.UUID(task_id)]
        assert task.processed and task.binary_code == A
        topic, _, payload = repo.outbox[-1]
        event = TaskProcessed.from_json(payload)
        assert (topic, event.id, event.binary_code) == ("task.processed", task_id, A)

    async def test_a_repeat_is_accepted_and_changes_nothing(self) -> None:
        repo = FakeTaskRepository()
        [task_id] = await add(repo, "A")
        await usecases.record_processed_tasks([(task_id, A, "")], repo, 64)
        before, events = repo.tasks[uuid.UUID(task_id)], len(repo.outbox)
        acks = await usecases.record_processed_tasks([(task_id, A, "")], repo, 64)
        assert acks[0].status is AckStatus.ACCEPTED
        assert repo.tasks[uuid.UUID(task_id)] == before
        assert len(repo.outbox) == events

    async def test_answers_each_result_in_order_with_its_own_status(self) -> None:
        repo = FakeTaskRepository()
        [first, second] = await add(repo, "A", "hi")
        unknown = str(uuid.uuid4())
        batch = [
            (first, A, ""),
            (unknown, A, ""),
            ("nope", A, ""),
            (second, "012", ""),
            (second, HI, ""),
        ]
        acks = await usecases.record_processed_tasks(batch, repo, 64)
        assert [(a.id, a.status) for a in acks] == [
            (first, AckStatus.ACCEPTED),
            (unknown, AckStatus.NOT_FOUND),
            ("nope", AckStatus.INVALID),
            (second, AckStatus.INVALID),
            (second, AckStatus.ACCEPTED),
        ]
        assert "not a UUID" in acks[2].detail
        assert "multiple of 8" in acks[3].detail

    async def test_a_batch_of_only_malformed_results_does_not_touch_the_store(self) -> None:
        repo = FakeTaskRepository()
        repo.unavailable = True
        acks = await usecases.record_processed_tasks([("x", A, "")], repo, 64)
        assert acks[0].status is AckStatus.INVALID


class TestListTasks:
    async def test_lists_newest_first_with_the_default_page_size(self) -> None:
        repo = FakeTaskRepository()
        for message in ["1", "2", "3"]:
            await add(repo, message)
        page = await usecases.list_tasks(0, 0, repo, PAGES)
        assert [t.message for t in page] == ["3", "2"]
        rest = await usecases.list_tasks(5, 2, repo, PAGES)
        assert [t.message for t in rest] == ["1"]

    async def test_refuses_a_limit_above_the_maximum(self) -> None:
        with pytest.raises(InvalidRequest, match="at most 10"):
            await usecases.list_tasks(11, 0, FakeTaskRepository(), PAGES)

    async def test_a_list_of_ids_reads_no_message_and_no_binary_code(self) -> None:
        repo = FakeTaskRepository()
        ids = await add(repo, *["x" * 64] * 3)
        await usecases.record_processed_tasks([(i, A * 64, "") for i in ids], repo, 64)
        page = await usecases.list_tasks(10, 0, repo, PAGES, IDS_ONLY)
        assert [str(t.id) for t in page] == ids[::-1]
        assert all(t.message == t.binary_code == "" and t.processed for t in page)
        assert repo.large_bytes_read == 0

    async def test_a_page_over_the_byte_budget_is_refused_with_the_limit_that_fits(
        self,
    ) -> None:
        repo = FakeTaskRepository()
        await add(repo, *["x" * 40] * 3)
        with pytest.raises(InvalidRequest) as refused:
            await usecases.list_tasks(3, 0, repo, PAGES, TaskFields(binary_code=False))
        assert str(refused.value) == (
            "this page holds 120 bytes of messages, over the limit of 100 bytes: ask for at "
            "most 2 tasks (limit: 2) and page with offset, or select fewer fields"
        )
        assert repo.large_bytes_read == 0

    async def test_a_page_within_the_byte_budget_is_read_whole(self) -> None:
        repo = FakeTaskRepository()
        await add(repo, *["x" * 40] * 3)
        page = await usecases.list_tasks(2, 1, repo, PAGES)
        assert [t.message for t in page] == ["x" * 40] * 2
        assert repo.large_bytes_read == 80

    async def test_the_budget_counts_only_the_selected_fields(self) -> None:
        repo = FakeTaskRepository()
        [task_id] = await add(repo, "hi")
        await usecases.record_processed_tasks([(task_id, HI * 8, "")], repo, 64)
        with pytest.raises(InvalidRequest, match="128 bytes of binary codes"):
            await usecases.list_tasks(1, 0, repo, PAGES, TaskFields(message=False))
        [task] = await usecases.list_tasks(1, 0, repo, PAGES, TaskFields(binary_code=False))
        assert (task.message, task.binary_code, task.processed) == ("hi", "", True)


class TestGetTask:
    async def test_finds_a_task_by_id(self) -> None:
        repo = FakeTaskRepository()
        [task_id] = await add(repo, "A")
        assert (await usecases.get_task(task_id, repo)).message == "A"

    async def test_an_unknown_id_is_not_found(self) -> None:
        with pytest.raises(TaskNotFound):
            await usecases.get_task(str(uuid.uuid4()), FakeTaskRepository())

    async def test_reads_only_the_fields_asked_for(self) -> None:
        repo = FakeTaskRepository()
        [task_id] = await add(repo, "A")
        await usecases.record_processed_tasks([(task_id, A, "")], repo, 64)
        task = await usecases.get_task(task_id, repo, IDS_ONLY)
        assert (str(task.id), task.message, task.binary_code) == (task_id, "", "")
        assert task.processed and repo.large_bytes_read == 0
        assert (await usecases.get_task(task_id, repo)).binary_code == A

    async def test_an_id_that_is_not_a_uuid_is_invalid(self) -> None:
        with pytest.raises(InvalidRequest, match="not a UUID"):
            await usecases.get_task("42", FakeTaskRepository())
