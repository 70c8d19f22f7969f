"""Notice at once when RabbitMQ blocks a connection's publishes (a memory or disk alarm).

RabbitMQ sends `connection.blocked` (with the alarm as its reason) when a resource alarm
makes it stop reading from publishing connections, and `connection.unblocked` once every
alarm has cleared. aiormq handles both frames but offers no public hook for them: it only
flips a private event that `Connection.ready()` waits on, and aio-pika adds nothing. So
this module, and only this one, wraps aiormq's two private handlers on each connection
object (an instance attribute; the class is left alone). If a later aiormq renames them,
`watch_blocking` returns False and the relay notices blocking only through confirm
timeouts, as before; `tests/unit/publisher` pins the names in the installed version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Name-mangled private members of aiormq.Connection (aiormq 7.x).
_ON_BLOCKED = "_Connection__handle_connection_blocked"
_ON_UNBLOCKED = "_Connection__handle_connection_unblocked"
_UNBLOCKED_EVENT = "_Connection__connection_unblocked"


def watch_blocking(
    connection: Any,
    on_blocked: Callable[[str], None],
    on_unblocked: Callable[[], None],
) -> bool:
    """Call `on_blocked(reason)` / `on_unblocked()` as this aiormq connection's frames
    arrive; return False if this aiormq has no such handlers to wrap."""
    handle_blocked = getattr(connection, _ON_BLOCKED, None)
    handle_unblocked = getattr(connection, _ON_UNBLOCKED, None)
    if handle_blocked is None or handle_unblocked is None:
        return False

    async def blocked(frame: Any) -> None:
        await handle_blocked(frame)
        on_blocked(str(getattr(frame, "reason", "") or "unknown"))

    async def unblocked(frame: Any) -> None:
        await handle_unblocked(frame)
        on_unblocked()

    setattr(connection, _ON_BLOCKED, blocked)
    setattr(connection, _ON_UNBLOCKED, unblocked)
    # A block that came before the wrappers were in place is already in aiormq's event
    # (which is also unset before the connection's reader starts: hence `connected`).
    event = getattr(connection, _UNBLOCKED_EVENT, None)
    if event is not None and connection.connected.is_set() and not event.is_set():
        on_blocked("blocked before it was watched")
    return True
