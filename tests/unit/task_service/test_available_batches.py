from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pyservices.common.proto import task_pb2
from pyservices.task_service.adapters.grpc_servicer import available_batches


def item(n: int) -> task_pb2.ProcessedTaskBatch:
    return task_pb2.ProcessedTaskBatch(tasks=[task_pb2.ProcessedTask(id=str(n), binary_code="0")])


async def from_queue(
    queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None],
) -> AsyncIterator[task_pb2.ProcessedTaskBatch]:
    while (next_item := await queue.get()) is not None:
        if isinstance(next_item, Exception):
            raise next_item
        yield next_item


class TestAvailableBatches:
    async def test_yields_what_has_arrived_without_waiting_for_more(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        batches = available_batches(from_queue(queue), cap=100)
        async with contextlib.aclosing(batches):
            for n in range(3):
                queue.put_nowait(item(n))
            first = await asyncio.wait_for(anext(batches), 5)
            assert first == [("0", "0"), ("1", "0"), ("2", "0")]
            queue.put_nowait(item(3))
            assert await asyncio.wait_for(anext(batches), 5) == [("3", "0")]
            queue.put_nowait(None)
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(batches), 5)

    async def test_never_yields_more_than_the_cap(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        for n in range(5):
            queue.put_nowait(item(n))
        queue.put_nowait(None)
        sizes = [len(batch) async for batch in available_batches(from_queue(queue), cap=2)]
        assert sum(sizes) == 5
        assert max(sizes) <= 2

    async def test_raises_the_error_that_broke_the_stream(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        queue.put_nowait(RuntimeError("stream broke"))
        with pytest.raises(RuntimeError, match="stream broke"):
            async for _ in available_batches(from_queue(queue), cap=10):
                pass
