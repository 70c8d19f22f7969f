from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pyservices.common.proto import task_pb2
from pyservices.task_service.adapters.grpc_servicer import available_batches


def item(n: int, code: str = "0") -> task_pb2.ProcessedTaskBatch:
    return task_pb2.ProcessedTaskBatch(tasks=[task_pb2.ProcessedTask(id=str(n), binary_code=code)])


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
        batches = available_batches(from_queue(queue), cap=100, max_bytes=1 << 20)
        async with contextlib.aclosing(batches):
            for n in range(3):
                queue.put_nowait(item(n))
            first = await asyncio.wait_for(anext(batches), 5)
            assert first == [("0", "0", ""), ("1", "0", ""), ("2", "0", "")]
            queue.put_nowait(item(3))
            assert await asyncio.wait_for(anext(batches), 5) == [("3", "0", "")]
            queue.put_nowait(None)
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(batches), 5)

    async def test_never_yields_more_than_the_cap(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        for n in range(5):
            queue.put_nowait(item(n))
        queue.put_nowait(None)
        sizes = [
            len(batch)
            async for batch in available_batches(from_queue(queue), cap=2, max_bytes=1 << 20)
        ]
        assert sum(sizes) == 5
        assert max(sizes) <= 2

    async def test_raises_the_error_that_broke_the_stream(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        queue.put_nowait(RuntimeError("stream broke"))
        with pytest.raises(RuntimeError, match="stream broke"):
            async for _ in available_batches(from_queue(queue), cap=10, max_bytes=1 << 20):
                pass

    async def test_a_batch_holds_at_most_the_byte_limit_and_at_least_one_result(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        for n, size in enumerate([8, 8, 24, 8]):
            queue.put_nowait(item(n, "0" * size))
        queue.put_nowait(None)

        batches = [
            [task_id for task_id, *_ in batch]
            async for batch in available_batches(from_queue(queue), cap=100, max_bytes=16)
        ]

        assert batches == [["0", "1"], ["2"], ["3"]]

    async def test_reads_ahead_no_further_than_the_byte_limit(self) -> None:
        queue: asyncio.Queue[task_pb2.ProcessedTaskBatch | Exception | None] = asyncio.Queue()
        for n in range(10):
            queue.put_nowait(item(n, "0" * 8))
        batches = available_batches(from_queue(queue), cap=100, max_bytes=16)
        async with contextlib.aclosing(batches):
            assert len(await asyncio.wait_for(anext(batches), 5)) == 2
            await asyncio.sleep(0.01)  # the reader runs while the batch is recorded

            # Read: the first two, two more waiting, and one held by the blocked reader.
            assert queue.qsize() == 10 - 5
