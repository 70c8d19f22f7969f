"""One work queue's way through the worker: its consumer, conversion and result stream.

The worker runs a lane for `task.process` and one for `task.process.large` (see
`common.topology`). Each has its own byte budget, its own first-in-first-out queue of
results and its own stream to the task service, so a short task's result never waits
behind the codes of large ones, and a lane over its budget pauses only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from pyservices.common.logging import get_logger
from pyservices.worker.flow import HeldBytes, control_flow
from pyservices.worker.ports import Converter, DeliverySource, TaskService
from pyservices.worker.results import ResultSubmitter
from pyservices.worker.settings import WorkerSettings
from pyservices.worker.usecases import TaskProcessor

log = get_logger(__name__)


@dataclass
class Lane:
    queue: str
    held: HeldBytes
    submitter: ResultSubmitter
    processor: TaskProcessor
    consumer: DeliverySource | None = None
    _loops: list[asyncio.Task[None]] = field(default_factory=list)  # each ends by itself
    _processing: asyncio.Task[None] | None = None  # waits for deliveries: cancelled
    _flowing: asyncio.Task[None] | None = None  # may wait on the broker: cancelled
    _stop_submitting: asyncio.Event = field(default_factory=asyncio.Event)
    _stop_flow: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(
        cls, queue: str, settings: WorkerSettings, service: TaskService, converter: Converter
    ) -> Lane:
        held = HeldBytes(settings.worker_held_bytes, lane=queue)
        submitter = ResultSubmitter(
            service,
            backoff_cap=settings.retry_backoff_max_seconds,
            message_bytes=settings.worker_result_message_bytes,
            held=held,
        )
        processor = TaskProcessor(
            converter,
            submitter,
            max(1, settings.worker_batch_max),
            batch_bytes=settings.worker_batch_bytes,
            held=held,
        )
        return cls(queue, held, submitter, processor)

    def run(self) -> None:
        """Start submitting and converting (consuming starts with `consume`)."""
        self._loops.append(asyncio.create_task(self.submitter.run(self._stop_submitting)))
        self._processing = asyncio.create_task(self.processor.run())

    async def consume(self, consumer: DeliverySource) -> None:
        self.consumer = consumer
        await consumer.start(self.processor.receive)
        self._flowing = asyncio.create_task(control_flow(self.held, consumer, self._stop_flow))

    async def stop_consuming(self) -> None:
        self._stop_flow.set()
        if self.consumer is not None:
            await self.consumer.stop()

    async def drained(self) -> None:
        await self.processor.drained()

    async def close(self) -> None:
        """Stop everything; what is still unacked goes back to the queue."""
        self._stop_flow.set()
        self._stop_submitting.set()
        tasks = list(self._loops)
        for task in (self._processing, self._flowing):
            if task is not None:
                task.cancel()
                tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.close()
