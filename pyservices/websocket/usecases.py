"""Use cases of the WebSocket service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyservices.common import tracing
from pyservices.common.events import MalformedEvent, TaskProcessed
from pyservices.common.logging import get_logger
from pyservices.websocket.domain import (
    BROKER_UNAVAILABLE,
    TRY_AGAIN_LATER,
    ClientRegistry,
    ConnectionLimits,
    FanOut,
    Refusal,
    frame_of,
    seconds_since_created,
)
from pyservices.websocket.metrics import (
    DISCONNECTS,
    END_TO_END_SECONDS,
    FRAMES_DROPPED,
    MALFORMED_EVENTS,
    OWNERS_FOLLOWED,
)
from pyservices.websocket.ports import ProcessedEvents, Subscriber

log = get_logger(__name__)
tracer = tracing.tracer(__name__)


def push_processed_task(body: bytes, registry: ClientRegistry) -> FanOut | None:
    """Fan one `task.processed` body out to the buffers of every client (with access
    control, of its owner's clients); never waits on a client.

    A body that is not a TaskProcessed is logged and skipped (None): redelivering it
    would not make it any better.
    """
    try:
        event = TaskProcessed.from_json(body)
    except MalformedEvent as error:
        MALFORMED_EVENTS.inc()
        log.warning(
            "malformed_processed_event", error=str(error), body=body[:200].decode(errors="replace")
        )
        return None
    with tracing.current_span(
        tracer, "task.processed push", continuing=True, kind=tracing.SpanKind.CONSUMER
    ) as span:
        fan_out = registry.broadcast(frame_of(event), event.owner)
        if span is not None:
            span.set_attribute("binconv.task.id", event.id)
            span.set_attribute("binconv.subscribers", fan_out.delivered)
            span.set_attribute("binconv.bytes", len(body))
    END_TO_END_SECONDS.observe(max(0.0, seconds_since_created(event, datetime.now(UTC))))
    if fan_out.dropped:
        FRAMES_DROPPED.inc(len(fan_out.dropped))
        DISCONNECTS.labels("too slow").inc(len(fan_out.dropped))
        log.warning("slow_clients_dropped", task_id=event.id, count=len(fan_out.dropped))
    return fan_out


@dataclass
class _Followed:
    connections: int = 0
    following: bool = False
    # Serialises this owner's follow and unfollow, so the last to run wins.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ClientConnections:
    """Admits a connected client (within the caps), routes its owner's results to this
    process while it has a client here, and lets it go again."""

    def __init__(
        self,
        registry: ClientRegistry,
        limits: ConnectionLimits,
        events: ProcessedEvents | None = None,
    ) -> None:
        if registry.by_owner and events is None:
            raise ValueError("routing by owner needs the events to follow owners on")
        self.registry, self.limits, self.events = registry, limits, events
        self._owners: dict[str, _Followed] = {}

    async def open(self, client: Subscriber, caller: str, owner: str | None) -> Refusal | None:
        """Register `client` (of `caller`, to receive `owner`'s results), or say why not.

        Registered before its owner is followed, so a result routed here the moment the
        binding holds finds it: results published once this returns all reach it."""
        refusal = self.limits.admit(caller)
        if refusal is not None:
            return refusal
        self.registry.add(client, owner)
        if owner is None or not self.registry.by_owner:
            return None
        try:
            await self._follow(owner)
        except asyncio.CancelledError:  # the connection's handler stopped (a shutdown)
            await self.close(client, caller, owner)
            raise
        except Exception:
            log.warning("owner_follow_failed", exc_info=True)
            await self.close(client, caller, owner)
            return Refusal(TRY_AGAIN_LATER, BROKER_UNAVAILABLE)
        return None

    async def close(self, client: Subscriber, caller: str, owner: str | None) -> None:
        """Undo `open` (after it succeeded, or failed following): harmless for a client
        already dropped from the registry."""
        self.registry.remove(client)
        self.limits.release(caller)
        if owner is not None and self.registry.by_owner:
            await self._unfollow(owner)

    async def _follow(self, owner: str) -> None:
        entry = self._owners.setdefault(owner, _Followed())
        entry.connections += 1
        async with entry.lock:
            if not entry.following and self.events is not None:
                await self.events.follow(owner)
                entry.following = True
                OWNERS_FOLLOWED.inc()

    async def _unfollow(self, owner: str) -> None:
        entry = self._owners[owner]
        entry.connections -= 1
        if entry.connections:
            return
        async with entry.lock:
            # A client of this owner may have come while the lock was awaited.
            if entry.connections == 0 and entry.following and self.events is not None:
                entry.following = False
                OWNERS_FOLLOWED.dec()
                await self.events.unfollow(owner)
            if entry.connections == 0 and self._owners.get(owner) is entry:
                del self._owners[owner]
