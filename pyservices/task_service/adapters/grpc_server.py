"""The grpc.aio server of the Task Service, with its options and interceptors."""

from __future__ import annotations

from typing import Any

import grpc

from pyservices.common.proto import task_pb2_grpc
from pyservices.task_service.adapters.grpc_metrics import MetricsInterceptor
from pyservices.task_service.adapters.grpc_servicer import TaskServicer


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        # A page of tasks with 64 KiB messages and their codes is large; beyond this
        # limit gRPC itself answers RESOURCE_EXHAUSTED.
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # The worker holds one long-lived stream: let it keep it alive with pings.
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def build_server(servicer: TaskServicer, max_message_bytes: int) -> Any:
    """An unstarted server; the caller binds a port (`add_insecure_port`) and starts it."""
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor()], options=server_options(max_message_bytes)
    )
    task_pb2_grpc.add_TaskServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    return server
