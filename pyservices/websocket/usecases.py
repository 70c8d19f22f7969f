"""Use cases of the WebSocket service."""

from __future__ import annotations

from datetime import UTC, datetime

from pyservices.common.events import MalformedEvent, TaskProcessed
from pyservices.common.logging import get_logger
from pyservices.websocket.domain import ClientRegistry, FanOut, frame_of, seconds_since_created
from pyservices.websocket.metrics import (
    DISCONNECTS,
    END_TO_END_SECONDS,
    FRAMES_DROPPED,
    MALFORMED_EVENTS,
)

log = get_logger(__name__)


def push_processed_task(body: bytes, registry: ClientRegistry) -> FanOut | None:
    """Fan one `task.processed` body out to every client's buffer; never waits on a client.

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
    fan_out = registry.broadcast(frame_of(event))
    END_TO_END_SECONDS.observe(max(0.0, seconds_since_created(event, datetime.now(UTC))))
    if fan_out.dropped:
        FRAMES_DROPPED.inc(len(fan_out.dropped))
        DISCONNECTS.labels("too slow").inc(len(fan_out.dropped))
        log.warning("slow_clients_dropped", task_id=event.id, count=len(fan_out.dropped))
    return fan_out
