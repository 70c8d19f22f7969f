"""What the worker produces and how the task service answers; no I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessedResult:
    task_id: str
    binary_code: str
    # The `traceparent` of the task's receive span ("" when tracing is off).
    trace_context: str = ""


class AckStatus(enum.Enum):
    ACCEPTED = "accepted"  # durably recorded (now or before): ack the delivery
    NOT_FOUND = "not_found"  # no such task: dead-letter
    INVALID = "invalid"  # malformed id or code: dead-letter


@dataclass(frozen=True, slots=True)
class ResultAck:
    task_id: str
    status: AckStatus
    detail: str = ""


class DeadLetterReason(enum.StrEnum):
    """Why a delivery went to `task.process.dead` (the metric's `reason` label)."""

    MALFORMED = "malformed"  # the body is not a task.created event
    UNCONVERTIBLE = "unconvertible"  # the message has no UTF-8 form (lone surrogate)
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    # A single result over the task service's message limit: it can never be delivered.
    TOO_LARGE = "too_large"


class StreamBroken(ConnectionError):
    """The result stream to the task service failed; unacknowledged results go again."""


class ResultTooLarge(StreamBroken):
    """The task service refused a stream message as over its size limit
    (RESOURCE_EXHAUSTED): sending the same message again cannot succeed."""
