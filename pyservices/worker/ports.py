"""The ports the worker's use cases talk to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence

from pyservices.worker.domain import ProcessedResult, ResultAck


class Delivery(abc.ABC):
    """One broker message, settled once: a second settlement changes nothing.

    Settling never raises: if the connection it came on is gone, the settlement is
    lost and the broker queues the message again (as it does every unsettled one)."""

    body: bytes

    @property
    def headers(self) -> Mapping[str, object]:
        """The message's headers as published (read only while tracing)."""
        return {}

    @property
    def redelivered(self) -> bool:
        """Whether the broker delivered this message before (to a consumer that did not
        settle it)."""
        return False

    @property
    def with_others(self) -> bool:
        """Whether it came in one message with other tasks (`task.created.batch`): then
        `reject` sends that whole message back, to come back as one message per task,
        and this task is dead-lettered only when refused again, alone."""
        return False

    @abc.abstractmethod
    async def ack(self) -> None:
        """Done with it: the broker forgets it."""

    @abc.abstractmethod
    async def reject(self) -> None:
        """Refuse without requeueing: the queue dead-letters it to `task.process.dead`."""


class DeliverySource(abc.ABC):
    """Where deliveries come from; paused while the worker holds too many bytes."""

    @abc.abstractmethod
    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        """Hand each delivery to `on_delivery`, unsettled, in the order queued: a
        message of several tasks as one delivery per task, in its order (split into
        one message per task if it is delivered again, which then queue at the back)."""

    @property
    @abc.abstractmethod
    def consuming(self) -> bool:
        """Whether a consumer is registered now (False before `start`, after a pause, or
        after a pause or resume that failed half-way: then `resume` registers one again)."""

    @abc.abstractmethod
    async def pause(self) -> None:
        """Stop receiving new deliveries; those already received stay unsettled and can
        still be settled. Harmless when already paused."""

    @abc.abstractmethod
    async def resume(self) -> None:
        """Receive again, what waited in the queue first; harmless when consuming, and
        nothing before `start`."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while connected to the queue."""

    async def stop(self) -> None:
        """Take no more deliveries, for good (`resume` does not undo it); those taken
        can still be settled."""
        await self.pause()

    async def close(self) -> None:
        """Let go of the connection, for good; what is unsettled goes back to the queue
        (settling it afterwards changes nothing)."""
        await self.stop()


class Converter(abc.ABC):
    @abc.abstractmethod
    def encode_many(self, messages: list[str]) -> list[str]:
        """The binary code of each message, in order: its UTF-8 bytes, eight digits each,
        most significant bit first ("" for ""). Raise UnicodeEncodeError if any message
        has no UTF-8 form (a lone surrogate)."""


class ResultStream(abc.ABC):
    """One `SendProcessedTask` call: results out, one ack per result back, in order."""

    @abc.abstractmethod
    async def send(self, results: Sequence[ProcessedResult]) -> None:
        """Write results in order as one stream message, which the service's size limit
        applies to; none is allowed (and answered by no ack). Raise StreamBroken if the
        stream failed."""

    @abc.abstractmethod
    async def receive(self) -> ResultAck:
        """The next ack: one per result, in the order sent across sends, with the
        service's verdict (a result sent again is ACCEPTED again).

        Raise ResultTooLarge if the service refused a message as over its size limit,
        StreamBroken when the stream ends or fails (the service went away); once it has
        raised, the stream is over and every later receive raises too."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the stream: a later send or receive raises StreamBroken. Never raises
        itself: harmless twice, or after the stream broke; the service stays usable for
        new streams."""


class TaskService(abc.ABC):
    @abc.abstractmethod
    async def open_stream(self) -> ResultStream:
        """A new result stream; raise StreamBroken if the service cannot be reached."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while connected to the service (an open stream keeps the
        connection), False while it cannot be reached."""
