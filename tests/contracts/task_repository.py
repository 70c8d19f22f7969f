"""The TaskRepository port's contract, written once and run against every adapter.

A subclass supplies the adapter (`repository`), a way to see the outbox events still
waiting (`outbox`), one whose store cannot be reached (`unavailable_repository`), and
the error it raises for an id stored twice (`duplicate_id_error`). Each test states
one promise of the docstrings in `pyservices/task_service/ports.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED, TaskCreated, TaskProcessed
from pyservices.task_service.domain import ALL_FIELDS, NewTask, ProcessedResult, Task, TaskFields
from pyservices.task_service.ports import Recorded, RepositoryUnavailable, TaskRepository

Event = tuple[str, uuid.UUID, bytes]  # topic, task id, payload
Outbox = Callable[[], Awaitable[list[Event]]]
OutboxTraceContexts = Callable[[], Awaitable[list[str | None]]]  # of `Outbox`'s events
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER_PARENT = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"

A, HI = "01000001", "0110100001101001"
IDS_ONLY = TaskFields(message=False, binary_code=False)
BUDGET = 1 << 20


def new(*messages: str, owner: str | None = None) -> list[NewTask]:
    return [NewTask(uuid.uuid4(), message, owner) for message in messages]


async def listed(repository: TaskRepository, limit: int = 100, offset: int = 0) -> list[Task]:
    return (await repository.list_tasks(limit, offset, ALL_FIELDS, BUDGET)).tasks


class TaskRepositoryContract:
    @pytest.fixture
    async def repository(self) -> TaskRepository:
        raise NotImplementedError("the adapter under test, on an empty store")

    @pytest.fixture
    def outbox(self) -> Outbox:
        raise NotImplementedError("the events not yet published, in the order written")

    @pytest.fixture
    def outbox_trace_contexts(self) -> OutboxTraceContexts:
        raise NotImplementedError("the trace context of each event `outbox` lists, in order")

    @pytest.fixture
    async def unavailable_repository(self) -> TaskRepository:
        raise NotImplementedError("the adapter, with its store out of reach")

    @pytest.fixture
    def duplicate_id_error(self) -> type[Exception]:
        raise NotImplementedError("what add_tasks raises for an id stored twice")

    # trace contexts
    async def test_created_events_store_the_trace_context_given_or_none(
        self, repository: TaskRepository, outbox_trace_contexts: OutboxTraceContexts
    ) -> None:
        await repository.add_tasks(new("a", "b"), PARENT)
        await repository.add_tasks(new("c"))

        assert await outbox_trace_contexts() == [PARENT, PARENT, None]

    async def test_processed_events_store_each_results_trace_context(
        self,
        repository: TaskRepository,
        outbox: Outbox,
        outbox_trace_contexts: OutboxTraceContexts,
    ) -> None:
        first, second, third = await repository.add_tasks(new("a", "b", "c"))

        await repository.record_processed(
            [
                ProcessedResult(first.id, A, PARENT),
                ProcessedResult(second.id, A),
                ProcessedResult(third.id, A, OTHER_PARENT),
            ]
        )

        events = zip(await outbox(), await outbox_trace_contexts(), strict=True)
        processed = {
            task_id: context for (topic, task_id, _), context in events if topic == TASK_PROCESSED
        }
        assert processed == {first.id: PARENT, second.id: None, third.id: OTHER_PARENT}

    # add_tasks
    async def test_add_tasks_returns_the_tasks_stored_in_the_order_given(
        self, repository: TaskRepository
    ) -> None:
        tasks = new(" héllo ", "🦀", "a", "\ttabs\t")

        stored = await repository.add_tasks(tasks)

        assert [(t.id, t.message) for t in stored] == [(t.id, t.message) for t in tasks]
        assert all(t.binary_code == "" and t.processed_at is None for t in stored)
        # One unit of work: the tasks of one call share their time of creation.
        assert {(t.created_at, t.updated_at) for t in stored} == {(stored[0].created_at,) * 2}
        assert stored[0].created_at.utcoffset() is not None
        assert [await repository.get_task(t.id) for t in stored] == stored

    async def test_add_tasks_writes_one_created_event_per_task_in_order(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        stored = await repository.add_tasks(new("a", "é", "c"))

        assert await outbox() == [
            (TASK_CREATED, t.id, TaskCreated(str(t.id), t.message, t.created_at).to_json())
            for t in stored
        ]

    async def test_event_payloads_escape_text_as_the_event_classes_do(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        # The real repository builds its payloads in SQL: the same bytes as `to_json`.
        tricky = 'q"b\\s/\n\t\r\b\f\x01\x1f\x7f é 😀 \u2028'
        owner = 'o"w\\n\ner ✓'
        stored = await repository.add_tasks(new(tricky, "", owner=owner))
        await repository.record_processed([ProcessedResult(t.id, A) for t in stored])
        done = [task for t in stored if (task := await repository.get_task(t.id)) is not None]

        events = await outbox()
        assert events[:2] == [
            (TASK_CREATED, t.id, TaskCreated(str(t.id), t.message, t.created_at, owner).to_json())
            for t in stored
        ]
        # The order of one call's results is not promised.
        assert sorted(events[2:]) == sorted(
            (TASK_PROCESSED, t.id, TaskProcessed(str(t.id), A, t.created_at, at, owner).to_json())
            for t in done
            if (at := t.processed_at) is not None
        )

    async def test_add_tasks_nothing_given_stores_nothing(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        assert await repository.add_tasks([]) == []
        assert await listed(repository) == []
        assert await outbox() == []

    async def test_add_tasks_an_id_stored_twice_fails_the_call_storing_nothing(
        self, repository: TaskRepository, outbox: Outbox, duplicate_id_error: type[Exception]
    ) -> None:
        [kept] = await repository.add_tasks(new("kept"))
        fresh = new("fresh", "fresher")

        with pytest.raises(duplicate_id_error):
            await repository.add_tasks([*fresh, NewTask(kept.id, "clash")])
        with pytest.raises(duplicate_id_error):
            await repository.add_tasks([*fresh, NewTask(fresh[0].id, "clash in the call")])

        assert await listed(repository) == [kept]
        assert [task_id for _, task_id, _ in await outbox()] == [kept.id]

    # record_processed
    async def test_record_processed_sets_the_code_and_emits_from_the_stored_task(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [task] = await repository.add_tasks(new("A"))

        recorded = await repository.record_processed([ProcessedResult(task.id, A)])

        assert recorded == Recorded(frozenset({task.id}), frozenset({task.id}))
        done = await repository.get_task(task.id)
        assert done is not None and done.binary_code == A and done.processed_at is not None
        assert (done.message, done.created_at) == (task.message, task.created_at)
        assert done.updated_at == done.processed_at >= task.created_at
        expected = TaskProcessed(str(task.id), A, task.created_at, done.processed_at)
        assert (await outbox())[1:] == [(TASK_PROCESSED, task.id, expected.to_json())]

    async def test_record_processed_a_repeat_is_found_and_changes_nothing(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [task] = await repository.add_tasks(new("A"))
        await repository.record_processed([ProcessedResult(task.id, A)])
        before, events = await repository.get_task(task.id), await outbox()

        again = await repository.record_processed([ProcessedResult(task.id, "01000010")])

        assert again == Recorded(frozenset({task.id}), frozenset())
        assert await repository.get_task(task.id) == before
        assert await outbox() == events

    async def test_record_processed_processes_only_stored_unprocessed_tasks(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [done, waiting, other] = await repository.add_tasks(new("A", "hi", "A"))
        await repository.record_processed([ProcessedResult(done.id, A)])
        unknown = uuid.uuid4()

        recorded = await repository.record_processed(
            [ProcessedResult(i, c) for i, c in [(unknown, A), (done.id, A), (waiting.id, HI)]]
        )

        assert recorded == Recorded(frozenset({done.id, waiting.id}), frozenset({waiting.id}))
        assert await repository.get_task(unknown) is None
        still = await repository.get_task(other.id)
        assert still is not None and still.processed_at is None
        events = [(topic, task_id) for topic, task_id, _ in await outbox()][3:]
        assert events == [(TASK_PROCESSED, done.id), (TASK_PROCESSED, waiting.id)]

    async def test_record_processed_duplicate_ids_in_one_batch_keep_the_first_and_emit_once(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [task] = await repository.add_tasks(new("A"))

        recorded = await repository.record_processed(
            [ProcessedResult(task.id, A), ProcessedResult(task.id, HI)]
        )

        assert recorded.newly_processed == {task.id}
        stored = await repository.get_task(task.id)
        assert stored is not None and stored.binary_code == A
        assert [topic for topic, _, _ in await outbox()] == [TASK_CREATED, TASK_PROCESSED]

    async def test_record_processed_nothing_given_records_nothing(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        await repository.add_tasks(new("A"))

        assert await repository.record_processed([]) == Recorded(frozenset(), frozenset())
        assert len(await outbox()) == 1

    async def test_record_processed_concurrent_same_batches_emit_each_event_once(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        tasks = await repository.add_tasks(new(*(f"m{i}" for i in range(50))))
        forward = [ProcessedResult(t.id, A) for t in tasks]

        outcomes = await asyncio.gather(
            *(repository.record_processed(b) for b in [forward, forward[::-1], forward])
        )

        newly = [outcome.newly_processed for outcome in outcomes]
        assert frozenset().union(*newly) == {t.id for t in tasks}
        assert sum(len(n) for n in newly) == len(tasks)
        processed = [task_id for topic, task_id, _ in await outbox() if topic == TASK_PROCESSED]
        assert sorted(processed) == sorted(t.id for t in tasks)

    # backlog
    async def test_backlog_an_empty_outbox_is_no_backlog(self, repository: TaskRepository) -> None:
        assert await repository.backlog() == 0

    async def test_backlog_the_estimate_is_never_below_the_events_waiting(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [task, *_] = await repository.add_tasks(new("a", "b", "c"))
        await repository.record_processed([ProcessedResult(task.id, A)])

        assert await repository.backlog() >= len(await outbox()) == 4

    # list_tasks
    async def test_list_tasks_newest_first_one_call_in_reverse_order_given(
        self, repository: TaskRepository
    ) -> None:
        first = await repository.add_tasks(new(*(f"old {i}" for i in range(5))))
        second = await repository.add_tasks(new(*(f"new {i}" for i in range(20))))

        assert [t.id for t in await listed(repository)] == [
            t.id for t in [*reversed(second), *reversed(first)]
        ]

    async def test_list_tasks_pages_by_limit_and_offset_cover_the_order_once(
        self, repository: TaskRepository
    ) -> None:
        await repository.add_tasks(new(*(f"m{i}" for i in range(7))))
        whole = await listed(repository)

        pages = [await listed(repository, 3, offset) for offset in (0, 3, 6)]

        assert [len(page) for page in pages] == [3, 3, 1]
        assert [t for page in pages for t in page] == whole
        assert await listed(repository, 3, 7) == []

    async def test_list_tasks_an_empty_store_is_an_empty_page(
        self, repository: TaskRepository
    ) -> None:
        page = await repository.list_tasks(10, 0, ALL_FIELDS, BUDGET)
        assert (page.tasks, page.sizes) == ([], [])

    async def test_list_tasks_sizes_are_the_utf8_bytes_of_the_selected_fields_only(
        self, repository: TaskRepository
    ) -> None:
        [task] = await repository.add_tasks(new("é🦀"))
        await repository.record_processed([ProcessedResult(task.id, A)])

        sizes = [
            (await repository.list_tasks(1, 0, fields, BUDGET)).sizes
            for fields in (ALL_FIELDS, TaskFields(binary_code=False), TaskFields(False), IDS_ONLY)
        ]

        assert sizes == [[6 + 8], [6], [8], [0]]

    async def test_list_tasks_only_the_selected_fields_are_read(
        self, repository: TaskRepository
    ) -> None:
        [task] = await repository.add_tasks(new("A"))
        await repository.record_processed([ProcessedResult(task.id, A)])
        [whole] = await listed(repository)

        for fields in (TaskFields(binary_code=False), TaskFields(message=False), IDS_ONLY):
            [one] = (await repository.list_tasks(1, 0, fields, BUDGET)).tasks
            assert one.message == (whole.message if fields.message else "")
            assert one.binary_code == (whole.binary_code if fields.binary_code else "")
            assert (one.id, one.created_at, one.updated_at, one.processed_at) == (
                whole.id,
                whole.created_at,
                whole.updated_at,
                whole.processed_at,
            )

    async def test_list_tasks_reads_a_page_at_the_budget_and_only_sizes_one_over(
        self, repository: TaskRepository
    ) -> None:
        stored = await repository.add_tasks(new("abc", "de"))
        await repository.record_processed([ProcessedResult(stored[0].id, A * 3)])

        at = await repository.list_tasks(2, 0, ALL_FIELDS, 2 + 3 + 24)
        over = await repository.list_tasks(2, 0, ALL_FIELDS, 2 + 3 + 24 - 1)

        assert [(t.message, t.binary_code) for t in at.tasks] == [("de", ""), ("abc", A * 3)]
        assert over.sizes == at.sizes == [2, 27]
        assert [(t.message, t.binary_code) for t in over.tasks] == [("", "")] * 2
        assert [(t.id, t.processed_at) for t in over.tasks] == [
            (t.id, t.processed_at) for t in at.tasks
        ]

    # list_tasks after a cursor
    async def test_add_tasks_seqs_increase_in_the_order_given_and_across_calls(
        self, repository: TaskRepository
    ) -> None:
        first = await repository.add_tasks(new("a", "b", "c"))
        second = await repository.add_tasks(new("d"))

        seqs = [t.seq for t in [*first, *second]]
        assert seqs == sorted(set(seqs))

    async def test_list_tasks_after_a_cursor_pages_cover_the_order_once(
        self, repository: TaskRepository
    ) -> None:
        for size in (3, 1, 4):
            await repository.add_tasks(new(*(f"m{i}" for i in range(size))))
        whole = await listed(repository)

        pages, after = [], None
        for _ in range(4):
            page = (await repository.list_tasks(3, 0, ALL_FIELDS, BUDGET, None, after)).tasks
            pages.append(page)
            after = page[-1].cursor if page else after

        assert [len(page) for page in pages] == [3, 3, 2, 0]
        assert [t for page in pages for t in page] == whole

    async def test_list_tasks_after_a_cursor_is_stable_while_tasks_arrive_or_go(
        self, repository: TaskRepository
    ) -> None:
        await repository.add_tasks(new(*(f"m{i}" for i in range(5))))
        whole = await listed(repository)

        await repository.add_tasks(new("newer"))  # an offset would now repeat a task
        after = (await repository.list_tasks(2, 0, ALL_FIELDS, BUDGET, None, whole[1].cursor)).tasks
        assert after == whole[2:4]
        # The cursor holds its place itself: the task it came from may be gone.
        await repository.remove_created_before(whole[0].created_at + timedelta(seconds=1), 100)
        assert (
            await repository.list_tasks(2, 0, IDS_ONLY, BUDGET, None, whole[1].cursor)
        ).tasks == []

    async def test_list_tasks_after_a_cursor_with_an_owner_lists_only_theirs(
        self, repository: TaskRepository
    ) -> None:
        alice = await repository.add_tasks(new("a1", "a2", owner="alice"))
        await repository.add_tasks(new("b1", owner="bob"))
        more = await repository.add_tasks(new("a3", owner="alice"))

        first = (await repository.list_tasks(1, 0, ALL_FIELDS, BUDGET, "alice")).tasks
        rest = (
            await repository.list_tasks(5, 0, ALL_FIELDS, BUDGET, "alice", first[0].cursor)
        ).tasks

        assert first == more
        assert rest == list(reversed(alice))

    # remove_created_before
    async def test_remove_created_before_removes_the_oldest_first_in_bounded_calls(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        old = await repository.add_tasks(new("old 1", "old 2"))
        await repository.record_processed([ProcessedResult(old[0].id, A)])
        [kept] = await repository.add_tasks(new("kept"))
        cutoff = kept.created_at

        assert await repository.remove_created_before(cutoff, 1) == 1
        assert await repository.get_task(old[0].id) is None
        assert await repository.get_task(old[1].id) is not None
        assert await repository.remove_created_before(cutoff, 1) == 1
        assert await repository.remove_created_before(cutoff, 1) == 0

        assert await listed(repository) == [kept]
        # The events still waiting for removed tasks go with them.
        assert [task_id for _, task_id, _ in await outbox()] == [kept.id]

    async def test_remove_created_before_nothing_older_removes_nothing(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        stored = await repository.add_tasks(new("a", "b"))

        assert await repository.remove_created_before(stored[0].created_at, 10) == 0
        assert len(await listed(repository)) == 2
        assert len(await outbox()) == 2

    # get_task
    async def test_get_task_an_absent_task_is_none(self, repository: TaskRepository) -> None:
        await repository.add_tasks(new("a"))
        assert await repository.get_task(uuid.uuid4()) is None

    async def test_get_task_only_the_fields_asked_for(self, repository: TaskRepository) -> None:
        [task] = await repository.add_tasks(new("A"))
        await repository.record_processed([ProcessedResult(task.id, A)])

        only_id = await repository.get_task(task.id, IDS_ONLY)
        code = await repository.get_task(task.id, TaskFields(message=False))

        assert only_id is not None and code is not None
        assert (only_id.message, only_id.binary_code, only_id.processed_at is None) == (
            "",
            "",
            False,
        )
        assert (code.message, code.binary_code) == ("", A)

    # owners
    async def test_owner_is_stored_and_carried_by_both_events(
        self, repository: TaskRepository, outbox: Outbox
    ) -> None:
        [mine] = await repository.add_tasks(new("A", owner="alice"))
        [open_] = await repository.add_tasks(new("A"))
        await repository.record_processed([ProcessedResult(mine.id, A)])

        assert (mine.owner, open_.owner) == ("alice", None)
        done = await repository.get_task(mine.id)
        assert done is not None and done.owner == "alice"
        events = await outbox()
        assert TaskCreated.from_json(events[0][2]).owner == "alice"
        assert TaskCreated.from_json(events[1][2]).owner is None
        assert TaskProcessed.from_json(events[2][2]) == TaskProcessed(
            str(mine.id), A, mine.created_at, done.updated_at, "alice"
        )

    async def test_owner_one_call_may_store_tasks_of_several_owners(
        self, repository: TaskRepository
    ) -> None:
        tasks = [*new("a", owner="alice"), *new("b", owner="bob"), *new("c")]

        stored = await repository.add_tasks(tasks)

        assert [t.owner for t in stored] == ["alice", "bob", None]
        assert [(await repository.get_task(t.id)) for t in tasks] == stored

    async def test_owner_lists_only_the_owners_tasks_newest_first_and_pages(
        self, repository: TaskRepository
    ) -> None:
        alice = await repository.add_tasks(new("a1", "a2", "a3", owner="alice"))
        bob = await repository.add_tasks(new("b1", owner="bob"))
        await repository.add_tasks(new("open"))
        more = await repository.add_tasks(new("a4", owner="alice"))

        mine = (await repository.list_tasks(10, 0, ALL_FIELDS, BUDGET, "alice")).tasks
        assert [t.id for t in mine] == [t.id for t in [*more, *reversed(alice)]]
        second = (await repository.list_tasks(2, 2, ALL_FIELDS, BUDGET, "alice")).tasks
        assert second == mine[2:]
        theirs = (await repository.list_tasks(10, 0, ALL_FIELDS, BUDGET, "bob")).tasks
        assert theirs == bob
        assert (await repository.list_tasks(10, 0, ALL_FIELDS, BUDGET, "carol")).tasks == []
        assert len(await listed(repository)) == 6  # open mode: every task

    async def test_owner_another_owners_task_is_absent_like_an_unknown_id(
        self, repository: TaskRepository
    ) -> None:
        [bobs] = await repository.add_tasks(new("b", owner="bob"))
        [open_] = await repository.add_tasks(new("o"))

        assert await repository.get_task(bobs.id, ALL_FIELDS, "alice") is None
        assert await repository.get_task(open_.id, ALL_FIELDS, "alice") is None
        assert await repository.get_task(bobs.id, ALL_FIELDS, "bob") == bobs
        assert await repository.get_task(bobs.id) == bobs  # open mode: any task

    # ping
    async def test_ping_a_store_that_answers_is_true(self, repository: TaskRepository) -> None:
        assert await repository.ping() is True

    async def test_ping_an_unreachable_store_is_not_true(
        self, unavailable_repository: TaskRepository
    ) -> None:
        try:
            answered = await asyncio.wait_for(unavailable_repository.ping(), 10)
        except RepositoryUnavailable:
            answered = False
        assert answered is False

    # every method
    async def test_every_call_on_an_unreachable_store_is_unavailable(
        self, unavailable_repository: TaskRepository
    ) -> None:
        repository, some_id = unavailable_repository, uuid.uuid4()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: repository.add_tasks(new("a")),
            lambda: repository.record_processed([ProcessedResult(some_id, A)]),
            repository.backlog,
            lambda: repository.list_tasks(1, 0, ALL_FIELDS, BUDGET),
            lambda: repository.get_task(some_id),
            lambda: repository.remove_created_before(datetime.now(UTC), 10),
        ]
        for call in calls:
            with pytest.raises(RepositoryUnavailable):
                await asyncio.wait_for(call(), 10)
