"""The TaskService port over gRPC (protos/task.proto), on one channel made in main."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from pyservices.common.logging import get_logger
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.common.status import BACKLOG_PART, DATABASE_PART, UNAVAILABLE_PART_KEY
from pyservices.gateway.domain import (
    InvalidInput,
    Task,
    TaskFields,
    TaskNotFound,
    TaskServiceUnavailable,
)
from pyservices.gateway.ports import TaskService

log = get_logger(__name__)

# Reconnect quickly after a task service restart instead of gRPC's default backoff of
# up to two minutes. The receive limit is the caller's (GRPC_MAX_RECEIVE_BYTES): every
# reply is bounded, a page by the task service's byte budget and sendTask's reply by
# leaving out the messages, so no reply needs more than that.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# Few stream messages (each costs a round through gRPC's completion queue), each well
# under gRPC's default 4 MiB message limit.
CHUNK_MESSAGES = 256
CHUNK_CHARACTERS = 1 << 19  # at most 2 MiB of UTF-8
REPLY_TOO_LARGE = (
    "the answer is larger than the gateway accepts from the task service: ask for fewer "
    "tasks (a smaller limit) and page with offset, or select fewer fields"
)


def open_channel(address: str, max_receive_bytes: int) -> grpc.aio.Channel:
    options = [("grpc.max_receive_message_length", max_receive_bytes), *CHANNEL_OPTIONS]
    return grpc.aio.insecure_channel(address, options=options)


class TaskServiceError(Exception):
    """The task service answered in a way the gateway does not expect (a bug somewhere)."""


class GrpcTaskService(TaskService):
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float) -> None:
        self._channel = channel
        self._stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout_seconds

    async def send_tasks(self, messages: Sequence[str], *, owner: str | None = None) -> list[Task]:
        def requests() -> Iterator[task_pb2.TaskMessages]:
            chunk: list[str] = []
            size = 0
            for message in messages:
                if chunk and (
                    len(chunk) == CHUNK_MESSAGES or size + len(message) > CHUNK_CHARACTERS
                ):
                    yield task_pb2.TaskMessages(
                        messages=chunk, omit_messages_in_reply=True, owner=owner or ""
                    )
                    chunk, size = [], 0
                chunk.append(message)
                size += len(message)
            yield task_pb2.TaskMessages(
                messages=chunk, omit_messages_in_reply=True, owner=owner or ""
            )

        try:
            reply = await self._stub.ReceiveTaskToProcess(requests(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from None
        if len(reply.tasks) != len(messages):
            raise TaskServiceError(
                f"task service stored {len(reply.tasks)} tasks for {len(messages)} messages"
            )
        # The reply leaves the messages out (protos/task.proto): they are the ones sent,
        # in the order sent, and the gateway holds them already.
        return [_task(item, message) for item, message in zip(reply.tasks, messages, strict=True)]

    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        *,
        owner: str | None = None,
        after: str | None = None,
    ) -> list[Task]:
        request = task_pb2.GetTasksRequest(
            limit=limit, offset=offset, fields=_fields(fields), owner=owner or "", after=after or ""
        )
        try:
            reply = await self._stub.GetTasks(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, REPLY_TOO_LARGE) from None
        return [_task(item) for item in reply.tasks]

    async def get_task(self, task_id: str, fields: TaskFields, *, owner: str | None = None) -> Task:
        request = task_pb2.GetTaskByIDRequest(id=task_id, fields=_fields(fields), owner=owner or "")
        try:
            reply = await self._stub.GetTaskByID(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, REPLY_TOO_LARGE) from None
        return _task(reply)

    async def ping(self) -> bool:
        """For /health: the channel connects (a cheap check that touches no database)."""
        await self._channel.channel_ready()
        return True


def _translate(error: grpc.aio.AioRpcError, reply_too_large: str | None = None) -> Exception:
    """The domain error for a refusal. RESOURCE_EXHAUSTED is a message over a gRPC size
    limit: a read's request is small, so there it was the reply (`reply_too_large`)."""
    code = error.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInput(error.details() or "invalid request")
    if code == grpc.StatusCode.NOT_FOUND:
        return TaskNotFound(error.details() or "task not found")
    if code in _UNAVAILABLE:
        log.warning("task_service_unavailable", code=code.name, details=error.details())
        # The task service names a part that is down in its trailing metadata; anything
        # else (no answer at all, or an unknown name) is the task service itself.
        part = dict(error.trailing_metadata() or ()).get(UNAVAILABLE_PART_KEY)
        if part == BACKLOG_PART:  # up, but behind: the task service says by how much
            return TaskServiceUnavailable(BACKLOG_PART, error.details() or None)
        return TaskServiceUnavailable(DATABASE_PART if part == DATABASE_PART else "task service")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if reply_too_large is None:
            return InvalidInput(error.details() or "request too large")
        # The task service's page budget (MAX_PAGE_BYTES) keeps every reply under the
        # gateway's GRPC_MAX_RECEIVE_BYTES unless the two settings disagree.
        log.warning("task_service_reply_too_large", details=error.details())
        return InvalidInput(reply_too_large)
    return TaskServiceError(f"task service answered {code.name}: {error.details()}")


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _fields(fields: TaskFields) -> task_pb2.TaskFields:
    return task_pb2.TaskFields(message=fields.message, binary_code=fields.binary_code)


def _task(item: task_pb2.Task, message: str | None = None) -> Task:
    return Task(
        id=item.id,
        message=item.message if message is None else message,
        binary_code=item.binary_code,
        created_at=_time(item.created_at),
        updated_at=_time(item.updated_at),
        processed=item.processed,
        cursor=item.cursor,
    )
