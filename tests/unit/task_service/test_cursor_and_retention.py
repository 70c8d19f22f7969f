"""Keyset pages (the cursor a task carries, `after`) and retention, on the fake store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pyservices.task_service import metrics, usecases
from pyservices.task_service.domain import (
    Cursor,
    InvalidRequest,
    NewTask,
    PageLimits,
    TaskFields,
    page,
    page_after,
)
from tests.unit.task_service.fakes import FakeTaskRepository

LIMITS = PageLimits(default_size=3, max_size=10, max_bytes=1 << 20)
IDS_ONLY = TaskFields(message=False, binary_code=False)
AT = datetime(2026, 11, 26, 5, 1, 2, 345678, tzinfo=UTC)


def test_a_cursor_reads_back_as_it_was_made_to_the_microsecond() -> None:
    for cursor in (Cursor(AT, 1), Cursor(AT + timedelta(microseconds=1), (1 << 63) - 1)):
        text = cursor.encode()
        assert Cursor.decode(text) == cursor
        assert text.isascii() and "=" not in text


@pytest.mark.parametrize(
    "text", ["x", "!!!", Cursor(AT, 1).encode()[:-2], "MjoxOjE", "MTp4OjE", "MToxOi0x"]
)
def test_anything_else_is_not_a_cursor(text: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a cursor"):
        Cursor.decode(text)


def test_a_page_is_by_offset_or_after_a_cursor_not_both() -> None:
    cursor = Cursor(AT, 7)
    assert page_after(0, 0, cursor.encode(), LIMITS) == (3, 0, cursor)
    assert page_after(2, 4, "", LIMITS) == (2, 4, None)
    assert page(2, 4, LIMITS) == (2, 4)  # as before
    with pytest.raises(InvalidRequest, match="offset and after cannot be used together"):
        page_after(2, 1, cursor.encode(), LIMITS)
    with pytest.raises(InvalidRequest, match="limit must be at most 10"):
        page_after(11, 0, cursor.encode(), LIMITS)


async def test_list_tasks_after_a_tasks_cursor_continues_from_it() -> None:
    store = FakeTaskRepository()
    for name in "abcde":
        await store.add_tasks([NewTask(uuid.uuid4(), name)])

    first = await usecases.list_tasks(2, 0, store, LIMITS)
    second = await usecases.list_tasks(2, 0, store, LIMITS, after=first[-1].cursor.encode())
    third = await usecases.list_tasks(0, 0, store, LIMITS, after=second[-1].cursor.encode())

    assert [t.message for t in [*first, *second, *third]] == list("edcba")
    with pytest.raises(InvalidRequest):
        await usecases.list_tasks(2, 1, store, LIMITS, after=first[-1].cursor.encode())


async def test_retention_removes_what_is_older_in_batches_and_counts_it() -> None:
    store = FakeTaskRepository()
    for name in "abcdefg":  # the fake's clock: one second apart
        await store.add_tasks([NewTask(uuid.uuid4(), name)])
    [newest] = (await store.list_tasks(1, 0, IDS_ONLY, 1 << 20)).tasks
    calls: list[int] = []
    remove = store.remove_created_before

    async def counted(cutoff: datetime, limit: int) -> int:
        calls.append(limit)
        return await remove(cutoff, limit)

    store.remove_created_before = counted  # type: ignore[method-assign]
    before = metrics.TASKS_REMOVED._value.get()

    removed = await usecases.remove_expired_tasks(
        store, timedelta(seconds=2), 2, now=lambda: newest.created_at
    )

    assert removed == 4  # created more than 2 s before the newest: a..d
    assert calls == [2, 2, 2]  # until a batch removes fewer than it may
    assert sorted(t.message for t in store.tasks.values()) == ["e", "f", "g"]
    assert metrics.TASKS_REMOVED._value.get() - before == 4
