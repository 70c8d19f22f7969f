"""The gateway's TaskService port's contract, written once and run against every adapter.

A subclass supplies the adapter (`service`) in front of a task service with no tasks
and the limits below, a way to process a task (`process`, what the worker does), and
adapters whose task service is down (`unreachable_service`) or whose task service is up
with its database down (`database_down_service`). Each test states one promise of the
docstrings in `pyservices/gateway/ports.py`; the refusals are the task service's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable

import pytest

from pyservices.gateway.domain import (
    ALL_FIELDS,
    InvalidInput,
    TaskFields,
    TaskNotFound,
    TaskServiceUnavailable,
)
from pyservices.gateway.ports import TaskService
from pyservices.task_service.domain import MessageLimits, PageLimits

# The task service behind the adapter under test is configured with these.
LIMITS = MessageLimits(max_messages=5, max_message_bytes=64)
PAGES = PageLimits(default_size=3, max_size=10, max_bytes=1024)

Process = Callable[[str, str], Awaitable[None]]  # (task id, binary code)
A = "01000001"
IDS_ONLY = TaskFields(message=False, binary_code=False)
ABSENT = "00000000-0000-0000-0000-000000000000"


class TaskServiceContract:
    @pytest.fixture
    async def service(self) -> TaskService:
        raise NotImplementedError("the adapter, before a task service with LIMITS and PAGES")

    @pytest.fixture
    def process(self) -> Process:
        raise NotImplementedError("records a binary code for a task, as the worker does")

    @pytest.fixture
    async def unreachable_service(self) -> TaskService:
        raise NotImplementedError("the adapter, with its task service down")

    @pytest.fixture
    async def database_down_service(self) -> TaskService:
        raise NotImplementedError("the adapter, with the task service's database down")

    # send_tasks
    async def test_send_tasks_stores_the_messages_as_sent_in_order(
        self, service: TaskService
    ) -> None:
        messages = ["hello", "  kept as sent  ", "é", "🦀", "x" * 64]

        stored = await service.send_tasks(messages)

        assert [t.message for t in stored] == messages
        assert len({uuid.UUID(t.id) for t in stored}) == len(messages)
        assert all(t.binary_code == "" and not t.processed for t in stored)
        # One request, one time of creation; its updated_at is the same.
        assert {(t.created_at, t.updated_at) for t in stored} == {(stored[0].created_at,) * 2}
        assert stored[0].created_at.utcoffset() is not None
        assert [await service.get_task(t.id, ALL_FIELDS) for t in stored] == stored

    @pytest.mark.parametrize(
        ("messages", "refusal"),
        [
            (["fine", "   "], "messages[1]: message is empty or only whitespace"),
            ([], "at least one message is required"),
            (["m"] * 6, "too many messages: at most 5 per request"),
            (["fine", "é" * 33], "messages[1]: message is 66 bytes of UTF-8, over the limit of 64"),
            (
                ["a\x00b"],
                "messages[0]: message contains the NUL character U+0000, which cannot be stored",
            ),
        ],
    )
    async def test_send_tasks_a_request_that_breaks_a_rule_is_invalid_and_stores_nothing(
        self, service: TaskService, messages: list[str], refusal: str
    ) -> None:
        with pytest.raises(InvalidInput) as refused:
            await service.send_tasks(messages)

        assert str(refused.value) == refusal
        assert await service.list_tasks(0, 0, IDS_ONLY) == []

    # list_tasks
    async def test_list_tasks_newest_first_one_request_in_reverse_order_sent(
        self, service: TaskService
    ) -> None:
        older = await service.send_tasks(["o1", "o2"])
        newer = await service.send_tasks(["n1", "n2", "n3"])

        listed = await service.list_tasks(10, 0, ALL_FIELDS)

        assert listed == [*reversed(newer), *reversed(older)]

    async def test_list_tasks_a_limit_of_zero_is_the_default_page_and_offset_pages_on(
        self, service: TaskService
    ) -> None:
        stored = [*await service.send_tasks(["1", "2"]), *await service.send_tasks(["3", "4"])]
        newest = [t.id for t in reversed(stored)]

        first = await service.list_tasks(0, 0, IDS_ONLY)
        rest = await service.list_tasks(0, 3, IDS_ONLY)

        assert [t.id for t in first] == newest[:3]
        assert [t.id for t in rest] == newest[3:]
        assert await service.list_tasks(10, 4, IDS_ONLY) == []

    @pytest.mark.parametrize(
        ("limit", "offset", "refusal"),
        [
            (11, 0, "limit must be at most 10 (got 11)"),
            (-1, 0, "limit must not be negative (got -1)"),
            (1, -1, "offset must not be negative (got -1)"),
        ],
    )
    async def test_list_tasks_a_page_out_of_bounds_is_invalid(
        self, service: TaskService, limit: int, offset: int, refusal: str
    ) -> None:
        with pytest.raises(InvalidInput) as refused:
            await service.list_tasks(limit, offset, ALL_FIELDS)
        assert str(refused.value) == refusal

    async def test_list_tasks_only_the_large_fields_asked_for(
        self, service: TaskService, process: Process
    ) -> None:
        [task] = await service.send_tasks(["A"])
        await process(task.id, A)
        [whole] = await service.list_tasks(1, 0, ALL_FIELDS)

        for fields in (TaskFields(binary_code=False), TaskFields(message=False), IDS_ONLY):
            [one] = await service.list_tasks(1, 0, fields)
            assert one.message == ("A" if fields.message else "")
            assert one.binary_code == (A if fields.binary_code else "")
            assert (one.id, one.created_at, one.updated_at, one.processed) == (
                whole.id,
                whole.created_at,
                whole.updated_at,
                True,
            )

    async def test_list_tasks_a_page_over_the_byte_budget_is_refused_saying_how_to_page(
        self, service: TaskService, process: Process
    ) -> None:
        message = "x" * LIMITS.max_message_bytes  # with its code, 576 bytes a task
        stored = await service.send_tasks([message] * 3)
        for task in stored:
            await process(task.id, "01111000" * len(message))

        with pytest.raises(InvalidInput) as refused:
            await service.list_tasks(3, 0, ALL_FIELDS)
        within = await service.list_tasks(1, 2, ALL_FIELDS)
        ids = await service.list_tasks(3, 0, IDS_ONLY)

        assert str(refused.value) == (
            "this page holds 1.7 KiB of messages and binary codes, over the limit of 1 KiB: "
            "ask for at most 1 task (limit: 1) and page with offset, or select fewer fields"
        )
        assert [t.message for t in within] == [message]
        assert [t.id for t in ids] == [t.id for t in reversed(stored)]

    # get_task
    async def test_get_task_only_the_large_fields_asked_for(
        self, service: TaskService, process: Process
    ) -> None:
        [task] = await service.send_tasks(["A"])
        await process(task.id, A)

        only_id = await service.get_task(task.id, IDS_ONLY)
        code = await service.get_task(task.id, TaskFields(message=False))

        assert (only_id.id, only_id.message, only_id.binary_code) == (task.id, "", "")
        assert (code.message, code.binary_code, code.processed) == ("", A, True)
        assert code.updated_at >= code.created_at == task.created_at

    async def test_get_task_an_unknown_id_is_not_found(self, service: TaskService) -> None:
        await service.send_tasks(["a"])
        with pytest.raises(TaskNotFound):
            await service.get_task(ABSENT, ALL_FIELDS)

    async def test_get_task_an_id_that_is_not_a_uuid_is_invalid(self, service: TaskService) -> None:
        with pytest.raises(InvalidInput, match="'not-a-uuid' is not a UUID"):
            await service.get_task("not-a-uuid", ALL_FIELDS)

    # list_tasks after a cursor
    async def test_list_tasks_after_a_tasks_cursor_pages_on_from_that_task(
        self, service: TaskService
    ) -> None:
        stored = [*await service.send_tasks(["1", "2", "3"]), *await service.send_tasks(["4"])]
        whole = await service.list_tasks(10, 0, ALL_FIELDS)

        pages, after = [], None
        for _ in range(3):
            pages.append(await service.list_tasks(2, 0, IDS_ONLY, after=after))
            after = pages[-1][-1].cursor if pages[-1] else after

        assert [[t.id for t in page] for page in pages] == [
            [t.id for t in whole[:2]],
            [t.id for t in whole[2:]],
            [],
        ]
        # Every task carries its cursor, from sendTask on, and each is its own.
        assert [t.cursor for t in whole] == [t.cursor for t in reversed(stored)]
        assert len({t.cursor for t in whole}) == 4 and "" not in {t.cursor for t in whole}
        assert await service.list_tasks(0, 0, IDS_ONLY, after=whole[0].cursor) == [
            dataclasses.replace(t, message="", binary_code="") for t in whole[1:]
        ]

    @pytest.mark.parametrize(
        ("offset", "after", "refusal"),
        [
            (0, "not a cursor", "'not a cursor' is not a cursor"),
            (1, None, "offset and after cannot be used together"),
        ],
    )
    async def test_list_tasks_after_what_is_not_a_cursor_or_with_an_offset_is_invalid(
        self, service: TaskService, offset: int, after: str | None, refusal: str
    ) -> None:
        [task] = await service.send_tasks(["a"])

        with pytest.raises(InvalidInput, match=refusal):
            await service.list_tasks(1, offset, ALL_FIELDS, after=after or task.cursor)

    async def test_list_tasks_after_a_cursor_with_an_owner_lists_only_theirs(
        self, service: TaskService
    ) -> None:
        alice = await service.send_tasks(["a1", "a2"], owner="alice")
        await service.send_tasks(["b1"], owner="bob")

        rest = await service.list_tasks(10, 0, ALL_FIELDS, owner="alice", after=alice[1].cursor)

        assert rest == alice[:1]

    # owners
    async def test_owner_lists_only_the_owners_tasks(self, service: TaskService) -> None:
        alice = await service.send_tasks(["a1", "a2"], owner="alice")
        bob = await service.send_tasks(["b1"], owner="bob")
        unowned = await service.send_tasks(["o"])

        mine = await service.list_tasks(10, 0, ALL_FIELDS, owner="alice")
        theirs = await service.list_tasks(10, 0, IDS_ONLY, owner="bob")
        everything = await service.list_tasks(10, 0, IDS_ONLY)

        assert mine == alice[::-1]
        assert [t.id for t in theirs] == [t.id for t in bob]
        assert [t.id for t in everything] == [t.id for t in [*unowned, *bob, *alice[::-1]]]
        assert await service.list_tasks(10, 0, IDS_ONLY, owner="carol") == []

    async def test_owner_another_owners_task_is_not_found_like_an_unknown_id(
        self, service: TaskService
    ) -> None:
        [bobs] = await service.send_tasks(["b"], owner="bob")

        with pytest.raises(TaskNotFound) as foreign:
            await service.get_task(bobs.id, ALL_FIELDS, owner="alice")
        with pytest.raises(TaskNotFound) as unknown:
            await service.get_task(ABSENT, ALL_FIELDS, owner="alice")

        assert str(foreign.value) == str(unknown.value).replace(ABSENT, bobs.id)
        assert await service.get_task(bobs.id, ALL_FIELDS, owner="bob") == bobs
        assert await service.get_task(bobs.id, ALL_FIELDS) == bobs  # open mode

    # ping
    async def test_ping_a_task_service_that_answers_is_true(self, service: TaskService) -> None:
        assert await service.ping() is True

    async def test_ping_a_task_service_that_is_down_is_not_true(
        self, unreachable_service: TaskService
    ) -> None:
        try:  # the caller bounds the wait
            answered = await asyncio.wait_for(unreachable_service.ping(), 0.5)
        except (TaskServiceUnavailable, TimeoutError):
            answered = False
        assert answered is False

    # every method
    async def test_a_task_service_that_is_down_is_unavailable(
        self, unreachable_service: TaskService
    ) -> None:
        await self._all_unavailable(unreachable_service, "task service unavailable, retry")

    async def test_a_database_that_is_down_is_unavailable_naming_it(
        self, database_down_service: TaskService
    ) -> None:
        await self._all_unavailable(database_down_service, "database unavailable, retry")

    async def _all_unavailable(self, service: TaskService, reason: str) -> None:
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: service.send_tasks(["a"]),
            lambda: service.list_tasks(0, 0, ALL_FIELDS),
            lambda: service.get_task(ABSENT, ALL_FIELDS),
        ]
        for call in calls:
            with pytest.raises(TaskServiceUnavailable) as refused:
                await asyncio.wait_for(call(), 10)
            assert str(refused.value) == reason
