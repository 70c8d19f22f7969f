"""The two events that travel from the outbox through RabbitMQ, as JSON bodies.

`task.created` (queue `task.process`) carries what the worker needs, so it never calls
back to fetch the task. `task.processed` (fanout `task.processed`) carries the frame the
WebSocket service pushes (`id`, `binaryCode`) plus the creation time, from which the
end-to-end latency is measured. Keys are camelCase, as in the GraphQL API.

Both carry `owner`: the `sub` of the caller that created the task in auth mode, null in
open mode (an event written before owners existed has no key, read as null). The
WebSocket service pushes a result only to its owner's connections; the frame it pushes
stays `{id, binaryCode}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

TASK_CREATED = "task.created"
TASK_PROCESSED = "task.processed"
# The AMQP `type` of a `task.process` message that carries several task.created events
# (the relay groups short, untraced tasks of one claim): its body is a JSON array of
# them, and its headers `message_ids` and `task_ids` list each event's outbox row id and
# task id, in order. A message without this type carries one event, as always.
TASK_CREATED_BATCH = "task.created.batch"


class MalformedEvent(ValueError):
    """A body that is not the event it claims to be."""


@dataclass(frozen=True, slots=True)
class TaskCreated:
    id: str
    message: str
    created_at: datetime
    owner: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "message": self.message,
                "createdAt": self.created_at.isoformat(),
                "owner": self.owner,
            }
        )

    @classmethod
    def from_json(cls, body: bytes) -> TaskCreated:
        data = _load(body)
        return cls(
            id=_str(data, "id"),
            message=_str(data, "message"),
            created_at=_time(data, "createdAt"),
            owner=_owner(data),
        )


@dataclass(frozen=True, slots=True)
class TaskProcessed:
    id: str
    binary_code: str
    created_at: datetime
    processed_at: datetime
    owner: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "binaryCode": self.binary_code,
                "createdAt": self.created_at.isoformat(),
                "processedAt": self.processed_at.isoformat(),
                "owner": self.owner,
            }
        )

    @classmethod
    def from_json(cls, body: bytes) -> TaskProcessed:
        data = _load(body)
        return cls(
            id=_str(data, "id"),
            binary_code=_str(data, "binaryCode"),
            created_at=_time(data, "createdAt"),
            processed_at=_time(data, "processedAt"),
            owner=_owner(data),
        )


def join_created(payloads: Sequence[bytes]) -> bytes:
    """The body of a `task.created.batch` message: the events as one JSON array."""
    return b"[" + b",".join(payloads) + b"]"


def split_created(body: bytes) -> list[bytes]:
    """The events of a `task.created.batch` body, each as compact JSON: byte for byte
    what was joined when that was compact (as the outbox's payloads are)."""
    try:
        events = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"a batch body that is not JSON: {exc}") from exc
    if not isinstance(events, list) or not events:
        raise MalformedEvent("a batch body that is not a non-empty JSON array")
    return [orjson.dumps(event) for event in events]


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedEvent("body is not a JSON object")
    return data


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedEvent(f"{key!r} is missing or not a string")
    return value


def _owner(data: dict[str, Any]) -> str | None:
    value = data.get("owner")
    if value is not None and not isinstance(value, str):
        raise MalformedEvent("'owner' is not a string or null")
    return value


def _time(data: dict[str, Any], key: str) -> datetime:
    try:
        return datetime.fromisoformat(_str(data, key))
    except ValueError as exc:
        raise MalformedEvent(f"{key!r} is not an ISO-8601 time") from exc
