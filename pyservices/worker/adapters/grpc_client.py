"""The task service's `SendProcessedTask` stream (grpc.aio, protos/task.proto)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from typing import Any

import grpc

from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.worker.domain import (
    AckStatus,
    ProcessedResult,
    ResultAck,
    ResultTooLarge,
    StreamBroken,
)
from pyservices.worker.ports import ResultStream, TaskService

_STATUSES = {
    task_pb2.ProcessedTaskAck.ACCEPTED: AckStatus.ACCEPTED,
    task_pb2.ProcessedTaskAck.NOT_FOUND: AckStatus.NOT_FOUND,
    task_pb2.ProcessedTaskAck.INVALID: AckStatus.INVALID,
}


class GrpcResultStream(ResultStream):
    """One stream message per batch of results each way; acks are handed out one by one."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._acks: collections.deque[ResultAck] = collections.deque()

    async def send(self, results: Sequence[ProcessedResult]) -> None:
        batch = task_pb2.ProcessedTaskBatch(
            tasks=[
                task_pb2.ProcessedTask(
                    id=result.task_id,
                    binary_code=result.binary_code,
                    trace_context=result.trace_context,
                )
                for result in results
            ]
        )
        try:
            await self._call.write(batch)
        except Exception as exc:  # AioRpcError, or a write on a finished call
            raise _broken("send failed", exc) from exc

    async def receive(self) -> ResultAck:
        while not self._acks:
            try:
                answer = await self._call.read()
            except asyncio.CancelledError:
                # grpc.aio answers a read on a call this side cancelled (closed) with
                # CancelledError: the stream ended, unless it is this task being cancelled.
                if _being_cancelled():
                    raise
                raise StreamBroken("receive failed: the stream was closed") from None
            except Exception as exc:
                raise _broken("receive failed", exc) from exc
            if answer is grpc.aio.EOF:
                raise StreamBroken("the task service ended the stream")
            self._acks.extend(_ack(item) for item in answer.acks)
        return self._acks.popleft()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._call.done_writing(), 1)
        self._call.cancel()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _broken(what: str, exc: Exception) -> StreamBroken:
    # RESOURCE_EXHAUSTED also means quotas and proxies' "calm down": only gRPC's own
    # size check ("Received message larger than max (N vs. M)") says the message was too big.
    if (
        isinstance(exc, grpc.aio.AioRpcError)
        and exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        and "larger than max" in (exc.details() or "")
    ):
        return ResultTooLarge(f"{what}: {exc!r}")
    return StreamBroken(f"{what}: {exc!r}")


def _ack(answer: task_pb2.ProcessedTaskAck) -> ResultAck:
    status = _STATUSES.get(answer.status)
    if status is None:
        raise StreamBroken(f"ack for {answer.id} has no status")
    return ResultAck(task_id=answer.id, status=status, detail=answer.detail)


class GrpcTaskService(TaskService):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]

    async def open_stream(self) -> ResultStream:
        call = self._stub.SendProcessedTask()
        try:
            await call.wait_for_connection()
        except Exception as exc:  # UNAVAILABLE while the task service is down
            call.cancel()
            raise StreamBroken(f"cannot open the result stream: {exc!r}") from exc
        return GrpcResultStream(call)

    async def ping(self) -> bool:
        # The lanes keep a stream open, so a reachable service keeps the channel ready.
        state = self._channel.get_state(try_to_connect=True)
        return bool(state == grpc.ChannelConnectivity.READY)
