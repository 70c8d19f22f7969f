"""The TaskLookup port over gRPC: the task service's GetTaskByID, on one channel."""

from __future__ import annotations

from datetime import UTC

import grpc

from pyservices.common.events import TaskProcessed
from pyservices.common.logging import get_logger
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.common.status import DATABASE_PART, UNAVAILABLE_PART_KEY
from pyservices.websocket.domain import LookupUnavailable, UnknownTasks
from pyservices.websocket.ports import TaskLookup

log = get_logger(__name__)

# Reconnect quickly after a task service restart (gRPC's default backoff reaches two
# minutes). One reply is one task: at most a 512 KiB binary code, under the 4 MiB
# default receive limit.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]
# The binary code, not the message (up to 64 KiB the subscription never sends).
RESULT_FIELDS = task_pb2.TaskFields(message=False, binary_code=True)
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class GrpcTaskLookup(TaskLookup):
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float) -> None:
        self._stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout_seconds

    async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
        request = task_pb2.GetTaskByIDRequest(id=task_id, fields=RESULT_FIELDS, owner=owner or "")
        try:
            task = await self._stub.GetTaskByID(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, task_id) from None
        if not task.processed:
            return None
        # A task's updated_at is set once, when its result is recorded: its processed_at.
        return TaskProcessed(
            id=task.id,
            binary_code=task.binary_code,
            created_at=task.created_at.ToDatetime(tzinfo=UTC),
            processed_at=task.updated_at.ToDatetime(tzinfo=UTC),
            owner=owner,
        )


def _translate(error: grpc.aio.AioRpcError, task_id: str) -> Exception:
    code = error.code()
    # INVALID_ARGUMENT: an id the task service does not take, which names no task either.
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return UnknownTasks([task_id])
    if code in _UNAVAILABLE:
        log.warning("task_service_unavailable", code=code.name, details=error.details())
        part = dict(error.trailing_metadata() or ()).get(UNAVAILABLE_PART_KEY)
        name = DATABASE_PART if part == DATABASE_PART else "task service"
        return LookupUnavailable(f"{name} unavailable, retry")
    log.error("task_lookup_failed", code=code.name, details=error.details())
    return LookupUnavailable(f"task service answered {code.name}, retry")
