"""Wiring of the Task Service: each adapter a parameter, the real one by default."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from pyservices.common import lifecycle
from pyservices.common.admission import LargeRequestGate
from pyservices.common.lifecycle import Step
from pyservices.common.logging import get_logger
from pyservices.common.ops import HealthCheck
from pyservices.task_service import usecases
from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, new_pool
from pyservices.task_service.ports import RepositoryUnavailable, TaskRepository
from pyservices.task_service.settings import TaskServiceSettings

log = get_logger(__name__)


class TaskServiceProcess(lifecycle.Service):
    name = "task_service"

    def __init__(
        self,
        settings: TaskServiceSettings,
        repository: TaskRepository,
        pool: asyncpg.Pool | None,
    ) -> None:
        self.settings, self.repository, self._pool = settings, repository, pool
        self.grace, self.host = settings.shutdown_grace_seconds, settings.host
        self.ops_port = settings.metrics_port
        self.address = f"{settings.host}:{settings.task_service_port}"
        self._server: Any = None
        self._retention: asyncio.Task[None] | None = None

    @property
    def checks(self) -> Mapping[str, HealthCheck]:
        return {"database": self.repository.ping}

    def describe(self) -> Mapping[str, Any]:
        return {"grpc": self.address, "metrics_port": self.ops_port}

    async def start(self, stop: asyncio.Event) -> None:  # the gRPC server never ends alone
        s = self.settings
        if self._pool is not None:
            await self._pool  # connects on demand (min_size 0): starts while PostgreSQL is down
        servicer = TaskServicer(
            self.repository,
            s.message_limits,
            s.page_limits,
            s.processed_batch_max,
            s.processed_batch_bytes,
            s.max_backlog_events,
            LargeRequestGate(s.large_request_bytes, s.large_requests_at_once),
        )
        self._server = build_server(servicer, s.grpc_max_message_bytes)
        self._server.add_insecure_port(self.address)
        await self._server.start()
        await self._warm_up(s.database_pool_min)
        if s.task_retention_days > 0:
            self._retention = asyncio.create_task(self._retain())

    async def _retain(self) -> None:
        """Retention on a timer, for as long as the service runs; an outage or a failed
        run is logged and retried at the next turn. Replicas may all run it: a batch
        skips the rows another holds."""
        s = self.settings
        retention = timedelta(days=s.task_retention_days)
        while True:
            try:
                await usecases.remove_expired_tasks(
                    self.repository, retention, s.task_retention_batch
                )
            except RepositoryUnavailable:
                log.warning("retention_skipped_database_unavailable")
            except Exception:
                log.exception("retention_failed")
            await asyncio.sleep(s.task_retention_interval_seconds)

    async def _warm_up(self, connections: int) -> None:
        """Open a few connections now so the first requests do not pay for them."""
        pings = (self.repository.ping() for _ in range(connections))
        results = await asyncio.gather(*pings, return_exceptions=True)
        if any(isinstance(result, BaseException) for result in results):
            log.warning("database_unavailable_at_start")

    async def drain(self, grace: float) -> None:
        # Refuses new calls, lets running ones finish within the grace, cancels the rest.
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        if self._server is not None:
            await self._server.stop(grace)

    def closing(self) -> Sequence[Step]:
        pool = self._pool
        if pool is None:
            return []
        return [
            Step(
                "database_pool_close",
                lambda: lifecycle.close_pool(pool, self.grace),
                self.grace + 1,
            )
        ]


def build(
    settings: TaskServiceSettings, *, repository: TaskRepository | None = None
) -> TaskServiceProcess:
    pool = None
    if repository is None:
        # Created here, connected in `start`: a pool that connects on demand.
        pool = new_pool(
            settings.database_url,
            settings.database_pool_max,
            settings.database_command_timeout_seconds,
            settings.database_acquire_timeout_seconds,
        )
        repository = PostgresTaskRepository(
            pool, settings.database_acquire_timeout_seconds, settings.insert_chunk_bytes
        )
    return TaskServiceProcess(settings, repository, pool)
