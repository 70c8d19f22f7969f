"""The gRPC entry points: parse the request, call a use case, map the result or error."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from pyservices.common.admission import LargeRequestGate
from pyservices.common.logging import get_logger
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.common.status import BACKLOG_PART, DATABASE_PART, UNAVAILABLE_PART_KEY
from pyservices.task_service import usecases
from pyservices.task_service.domain import (
    ALL_FIELDS,
    Ack,
    AckStatus,
    InvalidRequest,
    MessageLimits,
    Overloaded,
    PageLimits,
    Task,
    TaskFields,
    TaskNotFound,
)
from pyservices.task_service.ports import RepositoryUnavailable, TaskRepository

log = get_logger(__name__)
T = TypeVar("T")

ACK_STATUS = {
    AckStatus.ACCEPTED: task_pb2.ProcessedTaskAck.ACCEPTED,
    AckStatus.NOT_FOUND: task_pb2.ProcessedTaskAck.NOT_FOUND,
    AckStatus.INVALID: task_pb2.ProcessedTaskAck.INVALID,
}
UNAVAILABLE_MESSAGE = "database unavailable, retry"
NO_LARGE_FIELDS = TaskFields(message=False, binary_code=False)


class TaskServicer(task_pb2_grpc.TaskServiceServicer):
    def __init__(
        self,
        tasks: TaskRepository,
        message_limits: MessageLimits,
        page_limits: PageLimits,
        processed_batch_max: int = 1000,
        processed_batch_bytes: int = 8 * 1024 * 1024,
        max_backlog: int = 0,
        gate: LargeRequestGate | None = None,
    ) -> None:
        self._tasks = tasks
        self._message_limits = message_limits
        self._page_limits = page_limits
        self._batch_max = processed_batch_max
        self._batch_bytes = processed_batch_bytes
        self._max_backlog = max_backlog
        self._gate = gate

    async def ReceiveTaskToProcess(
        self, request_iterator: AsyncIterable[task_pb2.TaskMessages], context: Any
    ) -> task_pb2.TaskList:
        omit, owner = False, ""

        async def messages() -> AsyncIterator[str]:
            nonlocal omit, owner
            async for chunk in request_iterator:
                omit = omit or chunk.omit_messages_in_reply
                owner = owner or chunk.owner
                for message in chunk.messages:
                    yield message

        stored = await _guarded(
            context,
            usecases.receive_tasks(
                messages(),
                self._tasks,
                self._message_limits,
                self._max_backlog,
                self._gate,
                owner=lambda: owner or None,
            ),
        )
        # Without the messages when the caller has them (see the proto): 64 MiB at most.
        fields = NO_LARGE_FIELDS if omit else ALL_FIELDS
        return task_pb2.TaskList(tasks=[task_message(task, fields) for task in stored])

    async def SendProcessedTask(
        self, request_iterator: AsyncIterable[task_pb2.ProcessedTaskBatch], context: Any
    ) -> AsyncIterator[task_pb2.ProcessedTaskAckBatch]:
        # Results are recorded in batches of whatever has arrived, never waiting for more:
        # one transaction for many results when the worker is busy, no delay when not.
        max_bytes = self._message_limits.max_message_bytes
        batches = available_batches(request_iterator, self._batch_max, self._batch_bytes)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                acks = await _guarded(
                    context, usecases.record_processed_tasks(batch, self._tasks, max_bytes)
                )
                yield task_pb2.ProcessedTaskAckBatch(acks=[ack_message(ack) for ack in acks])

    async def GetTasks(self, request: task_pb2.GetTasksRequest, context: Any) -> task_pb2.TaskList:
        fields = task_fields(request)
        page = await _guarded(
            context,
            usecases.list_tasks(
                request.limit,
                request.offset,
                self._tasks,
                self._page_limits,
                fields,
                request.owner or None,
                request.after,
            ),
        )
        return task_pb2.TaskList(tasks=[task_message(task, fields) for task in page])

    async def GetTaskByID(
        self, request: task_pb2.GetTaskByIDRequest, context: Any
    ) -> task_pb2.Task:
        fields = task_fields(request)
        owner = request.owner or None  # empty: open mode, every task
        task = await _guarded(context, usecases.get_task(request.id, self._tasks, fields, owner))
        return task_message(task, fields)


async def available_batches(
    batches: AsyncIterable[task_pb2.ProcessedTaskBatch], cap: int, max_bytes: int
) -> AsyncGenerator[list[usecases.RawResult], None]:
    """Lists of (id, binary code, trace context): everything received so far, up to
    `cap` results and `max_bytes` of code at a time (at least one result).

    A reader task reads ahead while the caller records the previous batch, but stops
    reading once `max_bytes` of code wait (so a fast client is slowed by flow control,
    not buffered without end). The bound is in bytes: one result may be 512 KiB.
    """
    buffered: collections.deque[usecases.RawResult] = collections.deque()
    buffered_bytes = 0
    arrived, room = asyncio.Event(), asyncio.Event()
    room.set()

    async def read() -> None:
        nonlocal buffered_bytes
        async for received in batches:
            await room.wait()
            items = [(item.id, item.binary_code, item.trace_context) for item in received.tasks]
            buffered.extend(items)
            buffered_bytes += sum(len(code) for _, code, _ in items)
            if buffered_bytes >= max_bytes:
                room.clear()
            arrived.set()

    reader = asyncio.create_task(read())
    try:
        while True:
            while not buffered and not reader.done():
                arrived.clear()
                waiter = asyncio.ensure_future(arrived.wait())
                try:
                    await asyncio.wait((waiter, reader), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            if not buffered:
                reader.result()  # the error that broke the stream, if any
                return
            batch = [buffered.popleft()]
            size = len(batch[0][1])
            while buffered and len(batch) < cap and size + len(buffered[0][1]) <= max_bytes:
                batch.append(buffered.popleft())
                size += len(batch[-1][1])
            buffered_bytes -= size
            if buffered_bytes < max_bytes:
                room.set()
            yield batch
    finally:
        reader.cancel()


async def _guarded(context: Any, work: Awaitable[T]) -> T:
    """Run a use case, answering its refusals with the matching gRPC status."""
    try:
        return await work
    except InvalidRequest as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except TaskNotFound as exc:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    except Overloaded as exc:
        log.warning("request_refused_backlog", reason=str(exc))
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            str(exc),
            trailing_metadata=((UNAVAILABLE_PART_KEY, BACKLOG_PART),),
        )
    except RepositoryUnavailable as exc:
        log.warning("database_unavailable", error=str(exc.__cause__ or exc))
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            UNAVAILABLE_MESSAGE,
            trailing_metadata=((UNAVAILABLE_PART_KEY, DATABASE_PART),),
        )
    except Exception:
        log.exception("unexpected_error")
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    raise AssertionError("context.abort returned")  # pragma: no cover


def timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def task_fields(request: task_pb2.GetTasksRequest | task_pb2.GetTaskByIDRequest) -> TaskFields:
    """The large fields asked for; a request without `fields` (an older caller) gets all."""
    if not request.HasField("fields"):
        return ALL_FIELDS
    return TaskFields(message=request.fields.message, binary_code=request.fields.binary_code)


def task_message(task: Task, fields: TaskFields = ALL_FIELDS) -> task_pb2.Task:
    return task_pb2.Task(
        id=str(task.id),
        message=task.message if fields.message else "",
        binary_code=task.binary_code if fields.binary_code else "",
        created_at=timestamp(task.created_at),
        updated_at=timestamp(task.updated_at),
        processed=task.processed,
        cursor=task.cursor.encode(),
    )


def ack_message(ack: Ack) -> task_pb2.ProcessedTaskAck:
    return task_pb2.ProcessedTaskAck(id=ack.id, status=ACK_STATUS[ack.status], detail=ack.detail)
