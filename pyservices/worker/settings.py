"""The worker's configuration, from environment variables of the same (upper-case) names."""

from __future__ import annotations

from pyservices.common.settings import BrokerSettings, CommonSettings, TaskServiceAddress


class WorkerSettings(CommonSettings, BrokerSettings, TaskServiceAddress):
    metrics_port: int = 9103
    # Unacknowledged deliveries the broker hands this worker: the bound on in-flight work.
    worker_prefetch: int = 256
    # ...for task.process.large: its bodies are up to 64 KiB of text (up to 384 KiB of
    # JSON when every character is escaped), all delivered at once up to the prefetch,
    # before the byte budget can pause anything: 32 of them are 12 MiB at worst.
    worker_large_prefetch: int = 32
    # Most deliveries converted in one call (what has arrived, up to this).
    worker_batch_max: int = 256
    # Message bytes converted in one call (the codes are 8x that), at least one message.
    worker_batch_bytes: int = 1024 * 1024
    # Bytes of binary code in one result-stream message, at least one result: far under
    # the task service's receive limit (GRPC_MAX_MESSAGE_BYTES, 64 MiB).
    worker_result_message_bytes: int = 4 * 1024 * 1024
    # Bytes held at once (bodies not yet settled, codes not yet acknowledged); above it
    # the worker stops consuming until it is back under half. Keeps the worker within
    # its memory limit when every delivery is a 64 KiB message (a 512 KiB code).
    worker_held_bytes: int = 48 * 1024 * 1024
    retry_backoff_max_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
