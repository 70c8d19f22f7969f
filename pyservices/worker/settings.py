"""The worker's configuration, from environment variables of the same (upper-case) names."""

from __future__ import annotations

from pyservices.common.settings import BrokerSettings, CommonSettings, TaskServiceAddress


class WorkerSettings(CommonSettings, BrokerSettings, TaskServiceAddress):
    metrics_port: int = 9103
    # Unacknowledged deliveries the broker hands this worker: the bound on in-flight work.
    worker_prefetch: int = 256
    # Most deliveries converted in one call (what has arrived, up to this).
    worker_batch_max: int = 256
    retry_backoff_max_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
