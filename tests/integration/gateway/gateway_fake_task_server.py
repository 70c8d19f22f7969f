"""A tiny in-process task service speaking protos/task.proto, for the gRPC adapter tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from pyservices.common.proto import task_pb2, task_pb2_grpc


class FakeTaskServicer(task_pb2_grpc.TaskServiceServicer):
    def __init__(self) -> None:
        self.tasks: list[task_pb2.Task] = []
        self.streams = 0
        self.hang = asyncio.Event()  # set it to make every call hang

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
        return task_pb2.TaskList(tasks=stored)

    async def GetTasks(
        self, request: task_pb2.GetTasksRequest, context: grpc.aio.ServicerContext
    ) -> task_pb2.TaskList:
        await self._maybe_hang()
        newest_first = list(reversed(self.tasks))
        limit = request.limit or 50
        return task_pb2.TaskList(tasks=newest_first[request.offset : request.offset + limit])

    async def GetTaskByID(
        self, request: task_pb2.GetTaskByIDRequest, context: grpc.aio.ServicerContext
    ) -> task_pb2.Task:
        await self._maybe_hang()
        try:
            uuid.UUID(request.id)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "id: not a UUID")
        for task in self.tasks:
            if task.id == request.id:
                return task
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no task {request.id}")
        raise AssertionError("abort raises")


async def start_server(servicer: FakeTaskServicer) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    task_pb2_grpc.add_TaskServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
