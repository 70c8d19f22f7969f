"""The one fake task service: in-process, speaking protos/task.proto over a real grpc.aio
server, for the gateway's gRPC adapter and the worker's result stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from pyservices.common.proto import task_pb2, task_pb2_grpc


class FakeTaskServicer(task_pb2_grpc.TaskServiceServicer):
    """Stores what ReceiveTaskToProcess sends and serves it back; records the results
    SendProcessedTask reports for the `known` ids, refusing others as NOT_FOUND, and may
    break its first result stream after `break_first_after` results."""

    def __init__(self, known: set[str] | None = None, break_first_after: int | None = None) -> None:
        self.tasks: list[task_pb2.Task] = []
        self.streams = 0  # ReceiveTaskToProcess calls
        self.reads: list[task_pb2.GetTasksRequest | task_pb2.GetTaskByIDRequest] = []
        self.hang = asyncio.Event()  # set it to make every call hang
        self.known = known or set()
        self.break_first_after = break_first_after
        self.recorded: dict[str, str] = {}  # id -> binary code
        self.result_streams = 0
        self.all_recorded = asyncio.Event()

    async def _maybe_hang(self) -> None:
        if self.hang.is_set():
            await asyncio.Event().wait()

    async def ReceiveTaskToProcess(
        self,
        request_iterator: AsyncIterator[task_pb2.TaskMessages],
        context: grpc.aio.ServicerContext,
    ) -> task_pb2.TaskList:
        self.streams += 1
        await self._maybe_hang()
        messages = [m async for chunk in request_iterator for m in chunk.messages]
        for index, message in enumerate(messages):
            if not message.strip():
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"messages[{index}]: must not be empty"
                )
        now = Timestamp()
        now.GetCurrentTime()
        stored = [
            task_pb2.Task(id=str(uuid.uuid4()), message=m, created_at=now, updated_at=now)
            for m in messages
        ]
        self.tasks.extend(stored)
        # Like the real one: the reply leaves the messages out.
        return task_pb2.TaskList(tasks=[_only(task, task_pb2.TaskFields()) for task in stored])

    async def GetTasks(
        self, request: task_pb2.GetTasksRequest, context: grpc.aio.ServicerContext
    ) -> task_pb2.TaskList:
        self.reads.append(request)
        await self._maybe_hang()
        newest_first = list(reversed(self.tasks))
        limit = request.limit or 50
        page = newest_first[request.offset : request.offset + limit]
        return task_pb2.TaskList(tasks=[_fields_of(request, task) for task in page])

    async def GetTaskByID(
        self, request: task_pb2.GetTaskByIDRequest, context: grpc.aio.ServicerContext
    ) -> task_pb2.Task:
        self.reads.append(request)
        await self._maybe_hang()
        try:
            uuid.UUID(request.id)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "id: not a UUID")
        for task in self.tasks:
            if task.id == request.id:
                return _fields_of(request, task)
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no task {request.id}")
        raise AssertionError("abort raises")

    async def SendProcessedTask(
        self, request_iterator: AsyncIterable[task_pb2.ProcessedTaskBatch], context: Any
    ) -> AsyncIterator[task_pb2.ProcessedTaskAckBatch]:
        self.result_streams += 1
        first, received = self.result_streams == 1, 0
        async for batch in request_iterator:
            acks = []
            for item in batch.tasks:
                received += 1
                if (
                    first
                    and self.break_first_after is not None
                    and received > self.break_first_after
                ):
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
                status = task_pb2.ProcessedTaskAck.NOT_FOUND
                if item.id in self.known:
                    self.recorded[item.id] = item.binary_code
                    status = task_pb2.ProcessedTaskAck.ACCEPTED
                acks.append(task_pb2.ProcessedTaskAck(id=item.id, status=status))
            if set(self.recorded) == self.known:
                self.all_recorded.set()
            yield task_pb2.ProcessedTaskAckBatch(acks=acks)


def _fields_of(
    request: task_pb2.GetTasksRequest | task_pb2.GetTaskByIDRequest, task: task_pb2.Task
) -> task_pb2.Task:
    return _only(task, request.fields) if request.HasField("fields") else task


def _only(task: task_pb2.Task, fields: task_pb2.TaskFields) -> task_pb2.Task:
    """The task with only the large fields asked for."""
    copy = task_pb2.Task()
    copy.CopyFrom(task)
    if not fields.message:
        copy.message = ""
    if not fields.binary_code:
        copy.binary_code = ""
    return copy


async def serve(
    servicer: FakeTaskServicer, address: str = "127.0.0.1:0"
) -> tuple[grpc.aio.Server, int]:
    """A started server of `servicer` at `address` (a free port by default), and its port."""
    server = grpc.aio.server()
    task_pb2_grpc.add_TaskServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
