"""Tasks and the rules every request must follow. No I/O here."""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# A request with a thousand bad messages gets a readable error, not a thousand lines.
MAX_REPORTED_VIOLATIONS = 5


class InvalidRequest(ValueError):
    """A request that breaks a rule; the message names what is wrong and why."""


class TaskNotFound(LookupError):
    """No task has the requested id."""


class Overloaded(Exception):
    """The system is behind: new work is refused, retryable, until the backlog shrinks."""


def check_backlog(waiting: int, limit: int) -> None:
    """Refuse new tasks while more than `limit` events wait (0: no limit)."""
    if limit and waiting > limit:
        raise Overloaded(
            f"the system is behind (a backlog of {waiting} events waits to be published, "
            f"over the limit of {limit}); retry later"
        )


@dataclass(frozen=True, slots=True)
class MessageLimits:
    max_messages: int
    max_message_bytes: int


@dataclass(frozen=True, slots=True)
class PageLimits:
    default_size: int
    max_size: int
    # Bytes of the selected large fields (messages, binary codes) one page may hold.
    max_bytes: int


@dataclass(frozen=True, slots=True)
class TaskFields:
    """Which large fields of a task to read: a message is up to 64 KiB and its binary
    code eight times that. A field left out reads as the empty string."""

    message: bool = True
    binary_code: bool = True

    def describe(self) -> str:
        """What the selected fields are, for a refusal: "messages and binary codes"."""
        names = [("messages", self.message), ("binary codes", self.binary_code)]
        return " and ".join(name for name, selected in names if selected) or "nothing large"


ALL_FIELDS = TaskFields()


@dataclass(frozen=True, slots=True)
class NewTask:
    id: uuid.UUID
    message: str
    # The creator's token `sub` in auth mode; None in open mode.
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    id: uuid.UUID
    message: str
    binary_code: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None = None
    owner: str | None = None
    # Insertion order (the store's), which breaks ties of created_at in the page order.
    seq: int = 0

    @property
    def processed(self) -> bool:
        return self.processed_at is not None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.created_at, self.seq)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
CURSOR_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Cursor:
    """A task's place in the newest-first order (created_at, then seq, descending).
    Both keys, not seq alone: concurrent requests may commit seq out of created_at order."""

    created_at: datetime
    seq: int

    def encode(self) -> str:
        """Opaque to clients: URL-safe base64 of "1:<microseconds since 1970>:<seq>"."""
        micros = (self.created_at - EPOCH) // MICROSECOND
        raw = f"{CURSOR_VERSION}:{micros}:{self.seq}".encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor `encode` made, or InvalidRequest."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            version, micros, seq = raw.split(":")
            position = int(seq)
            if version != CURSOR_VERSION or not 0 <= position < 1 << 63:  # a bigint
                raise ValueError(version)
            return cls(EPOCH + int(micros) * MICROSECOND, position)
        except (ValueError, binascii.Error, OverflowError):
            raise InvalidRequest(
                f"after {_excerpt(text)} is not a cursor: pass a task's cursor as it was read"
            ) from None


@dataclass(frozen=True, slots=True)
class ProcessedResult:
    """A well-formed result: the task's id and its binary code, and the `traceparent`
    its task.processed event continues (None when tracing is off)."""

    task_id: uuid.UUID
    binary_code: str
    trace_context: str | None = None


class AckStatus(enum.Enum):
    ACCEPTED = "accepted"  # recorded now, or before: a repeat changes nothing
    NOT_FOUND = "not_found"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to one result, echoing the id exactly as the worker sent it."""

    id: str
    status: AckStatus
    detail: str = ""


def new_tasks(
    messages: Sequence[str], limits: MessageLimits, owner: str | None = None
) -> list[NewTask]:
    """The tasks of one request, or InvalidRequest naming every broken rule."""
    violations = message_violations(messages, limits)
    if violations:
        raise InvalidRequest(summarize(violations))
    return [NewTask(uuid.uuid4(), message, owner) for message in messages]


def message_violations(messages: Sequence[str], limits: MessageLimits) -> list[str]:
    if not messages:
        return ["at least one message is required"]
    found: list[str] = []
    if len(messages) > limits.max_messages:
        found.append(f"too many messages: at most {limits.max_messages} per request")
    for index, message in enumerate(messages[: limits.max_messages]):
        fault = message_fault(message, limits.max_message_bytes)
        if fault is not None:
            found.append(f"messages[{index}]: {fault}")
    return found


# Unicode's White_Space property. Not str.isspace: it also counts the information
# separators U+001C..U+001F, which are control characters, not spaces.
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_blank(message: str) -> bool:
    return all(character in WHITE_SPACE for character in message)


def message_fault(message: str, max_bytes: int) -> str | None:
    """Why a message cannot be stored as sent, or None. Messages are never trimmed."""
    if is_blank(message):
        return "message is empty or only whitespace"
    if "\x00" in message:
        return "message contains the NUL character U+0000, which cannot be stored"
    try:
        size = len(message.encode("utf-8"))
    except UnicodeEncodeError:
        return "message is not valid Unicode (it contains a lone surrogate)"
    if size > max_bytes:
        return f"message is {size} bytes of UTF-8, over the limit of {max_bytes}"
    return None


def summarize(violations: Sequence[str]) -> str:
    shown = "; ".join(violations[:MAX_REPORTED_VIOLATIONS])
    hidden = len(violations) - MAX_REPORTED_VIOLATIONS
    return f"{shown} (and {hidden} more)" if hidden > 0 else shown


def parse_task_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest(f"id {_excerpt(raw)} is not a UUID") from None


def parse_result(raw_id: str, binary_code: str, max_message_bytes: int) -> ProcessedResult | Ack:
    """A well-formed result, or the INVALID ack that refuses it."""
    try:
        task_id = parse_task_id(raw_id)
    except InvalidRequest as exc:
        return Ack(raw_id, AckStatus.INVALID, str(exc))
    fault = binary_code_fault(binary_code, max_message_bytes)
    if fault is not None:
        return Ack(raw_id, AckStatus.INVALID, fault)
    return ProcessedResult(task_id, binary_code)


def binary_code_fault(code: str, max_message_bytes: int) -> str | None:
    if not code:
        return "binary code is empty"
    if len(code) % 8:
        return f"binary code has {len(code)} characters, not a multiple of 8"
    if code.strip("01"):
        return "binary code may contain only the characters 0 and 1"
    if len(code) > 8 * max_message_bytes:
        return f"binary code is longer than the code of a {max_message_bytes}-byte message"
    return None


def page(limit: int, offset: int, limits: PageLimits) -> tuple[int, int]:
    """The (limit, offset) to read; 0 means the default size. Never a silent cap."""
    return page_after(limit, offset, "", limits)[:2]


def page_after(
    limit: int, offset: int, after: str, limits: PageLimits
) -> tuple[int, int, Cursor | None]:
    """The (limit, offset, cursor) to read: `after` (a task's cursor, "" for none) or an
    offset, not both."""
    cursor = Cursor.decode(after) if after else None
    if cursor is not None and offset:
        raise InvalidRequest(
            f"offset and after cannot be used together (got offset {offset}): page by one"
        )
    if limit < 0:
        raise InvalidRequest(f"limit must not be negative (got {limit})")
    if limit > limits.max_size:
        raise InvalidRequest(f"limit must be at most {limits.max_size} (got {limit})")
    if offset < 0:
        raise InvalidRequest(f"offset must not be negative (got {offset})")
    return (limit or limits.default_size), offset, cursor


def check_page_bytes(sizes: Sequence[int], max_bytes: int, fields: TaskFields) -> None:
    """Refuse a page whose selected large fields (`sizes`, per task in page order) hold
    more than `max_bytes`, naming the largest limit that fits: never a silent cut."""
    total = sum(sizes)
    if total <= max_bytes:
        return
    fitting, running = 0, 0
    for size in sizes:
        running += size
        if running > max_bytes:
            break
        fitting += 1
    held = f"{_amount(total)} of {fields.describe()}, over the limit of {_amount(max_bytes)}"
    if _amount(total) == _amount(max_bytes):
        held = f"{total} bytes of {fields.describe()}, over the limit of {max_bytes} bytes"
    if fitting == 0:
        raise InvalidRequest(
            f"the first task of this page alone holds {_amount(sizes[0])} of "
            f"{fields.describe()}, over the limit of {_amount(max_bytes)} for a page: "
            "select fewer fields, or read that task by its id"
        )
    tasks = "task" if fitting == 1 else "tasks"
    raise InvalidRequest(
        f"this page holds {held}: ask for at most {fitting} {tasks} (limit: {fitting}) "
        "and page with offset, or select fewer fields"
    )


def _amount(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _excerpt(raw: str, width: int = 64) -> str:
    return repr(raw if len(raw) <= width else raw[:width] + "…")
