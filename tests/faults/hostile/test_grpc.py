"""Hostile gRPC at the task service: invalid, oversized and corrupt requests are refused
with the right status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest

from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.settings import TaskServiceSettings
from tests.faults.hostile.checks import assert_still_converting
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults

GRPC_MAX_MESSAGE_BYTES: int = TaskServiceSettings.model_fields["grpc_max_message_bytes"].default


@pytest.fixture
async def task_service(stack: ServiceProcesses) -> AsyncIterator[Any]:
    options = [("grpc.max_send_message_length", -1)]
    address = f"127.0.0.1:{stack.ports.task_service}"
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        yield task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]


async def chunks(*chunks: list[str]) -> AsyncIterator[task_pb2.TaskMessages]:
    for messages in chunks:
        yield task_pb2.TaskMessages(messages=messages)


GrpcCall = Callable[[Any], Awaitable[Any]]
INVALID_CALLS: dict[str, GrpcCall] = {
    "id-missing": lambda s: s.GetTaskByID(task_pb2.GetTaskByIDRequest(), timeout=10),
    "id-not-uuid": lambda s: s.GetTaskByID(task_pb2.GetTaskByIDRequest(id="x' OR 1=1"), timeout=10),
    "limit-negative": lambda s: s.GetTasks(task_pb2.GetTasksRequest(limit=-1), timeout=10),
    "limit-huge": lambda s: s.GetTasks(task_pb2.GetTasksRequest(limit=2**31 - 1), timeout=10),
    "offset-negative": lambda s: s.GetTasks(task_pb2.GetTasksRequest(offset=-1), timeout=10),
    "no-chunks": lambda s: s.ReceiveTaskToProcess(chunks(), timeout=10),
    "empty-chunk": lambda s: s.ReceiveTaskToProcess(chunks([]), timeout=10),
    "blank-message": lambda s: s.ReceiveTaskToProcess(chunks(["ok"], [" \t"]), timeout=10),
    "nul-message": lambda s: s.ReceiveTaskToProcess(chunks(["a\x00b"]), timeout=10),
}


@pytest.mark.parametrize("call", INVALID_CALLS.values(), ids=INVALID_CALLS.keys())
async def test_an_invalid_grpc_request_gets_invalid_argument(
    stack: ServiceProcesses, http: httpx.AsyncClient, task_service: Any, call: GrpcCall
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(task_service)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details()
    await assert_still_converting(stack, http)


async def test_an_oversized_grpc_message_gets_resource_exhausted(
    stack: ServiceProcesses, http: httpx.AsyncClient, task_service: Any
) -> None:
    huge = "x" * (GRPC_MAX_MESSAGE_BYTES + 1)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await task_service.ReceiveTaskToProcess(chunks([huge]), timeout=60)

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_still_converting(stack, http)


async def test_a_corrupt_protobuf_payload_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    address = f"127.0.0.1:{stack.ports.task_service}"
    async with grpc.aio.insecure_channel(address) as channel:
        raw = channel.unary_unary("/binconv.task.v1.TaskService/GetTaskByID")
        # Field 1 (id) as a string of bytes that are not UTF-8, then a truncated field.
        for payload in (b"\x0a\x02\xff\xfe", b"\x0a\x10abc"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await raw(payload, timeout=10)
            # grpcio answers a request it cannot parse with UNKNOWN, not INVALID_ARGUMENT.
            assert refused.value.code() in {
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.INVALID_ARGUMENT,
            }

    await assert_still_converting(stack, http)
