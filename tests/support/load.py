"""The one fixed-rate load generator, for the fault suite and the benchmarks.

Requests of `batch` messages fall due every batch / rate seconds whatever the answers
(open-loop load): a slow answer never delays the next request. With `max_in_flight`, a
request that falls due while that many are still open is skipped and counted. Every
answer is filed as accepted, refused with a retryable error, or failed (a 5xx, a body
that is not GraphQL, any other error, or no answer within the client's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from tests.support.client import SEND_TASK

# Every batch mixes one-, two-, three- and four-byte UTF-8, so a wrong conversion shows.
SAMPLES = ("plain ascii", "accents é à ü", "emoji 🦀 ✓", "日本語のテキスト", "tab\there")

# The messages of one request -> the ids of the tasks stored for them.
SendBatch = Callable[[list[str]], Awaitable[list[str]]]


class Refused(Exception):
    """A retryable refusal (UNAVAILABLE); the text is the GraphQL errors as JSON."""


class Failed(Exception):
    """An answer that is neither the stored tasks nor a retryable refusal."""


@contextlib.asynccontextmanager
async def graphql_sender(
    url: str, *, answer_seconds: float = 15.0, connections: int = 64
) -> AsyncIterator[SendBatch]:
    """sendTask over one pool of HTTP connections; no answer within `answer_seconds` fails."""
    # Idle connections are dropped before any server would close them.
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(timeout=answer_seconds, limits=limits) as http:

        async def send(messages: list[str]) -> list[str]:
            try:
                response = await http.post(
                    url, json={"query": SEND_TASK, "variables": {"m": messages}}
                )
            except httpx.TimeoutException:
                raise Failed(f"no answer within {answer_seconds} s") from None
            except httpx.TransportError as error:
                raise Failed(f"transport error {error!r}") from None
            return _task_ids(response)

        yield send


def _task_ids(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        raise Failed(f"HTTP {response.status_code}, not JSON") from None
    errors = body.get("errors") if isinstance(body, dict) else None
    if response.status_code >= 500:
        raise Failed(f"HTTP {response.status_code}: {errors}")
    if errors:
        extensions = errors[0].get("extensions") or {}
        if extensions.get("code") == "UNAVAILABLE" and extensions.get("retryable"):
            raise Refused(json.dumps(errors))
        raise Failed(json.dumps(errors))
    return [task["id"] for task in body["data"]["sendTask"]]


@dataclass
class Request:
    due: float  # seconds after the start of the schedule
    lag: float  # seconds the call started after it was due
    started: float  # perf_counter at the start of the call
    messages: list[str]
    ended: float = 0.0
    outcome: str = "pending"  # accepted | refused | failed
    task_ids: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def tasks(self) -> dict[str, str]:
        """The stored tasks of an accepted request (id -> message); none otherwise."""
        if self.outcome != "accepted":
            return {}
        return dict(zip(self.task_ids, self.messages, strict=True))


class FixedRateLoad:
    """`rate` messages a second in requests of `batch`: for `seconds` through `run`, or
    from entering the context until it exits."""

    def __init__(
        self,
        send: SendBatch,
        label: str,
        *,
        rate: float = 100.0,
        batch: int = 5,
        max_in_flight: int | None = None,
        message_chars: int = 0,
    ) -> None:
        self._send_batch = send
        self._label = label
        self.interval = batch / rate
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._padding = "x" * message_chars
        self._numbers = itertools.count()
        self.start = 0.0  # perf_counter when the schedule began
        self.requests: list[Request] = []
        self.skipped: list[float] = []  # due times of the requests skipped
        self._in_flight: set[asyncio.Task[None]] = set()
        self._accepted_tasks = 0
        self._filed = asyncio.Condition()
        self._schedule: asyncio.Task[set[asyncio.Task[None]]] | None = None

    async def dispatch(self, seconds: float | None = None) -> set[asyncio.Task[None]]:
        """Starts each request when it is due, never waiting for earlier answers, for
        `seconds` (None: until cancelled); returns the requests still open."""
        self.start = time.perf_counter()
        dues: Iterable[int] = (
            itertools.count() if seconds is None else range(round(seconds / self.interval))
        )
        for k in dues:
            due = k * self.interval
            await asyncio.sleep(max(0.0, self.start + due - time.perf_counter()))
            if self._max_in_flight is not None and len(self._in_flight) >= self._max_in_flight:
                self.skipped.append(due)
                continue
            started = time.perf_counter()
            request = Request(due, started - self.start - due, started, self._messages())
            self.requests.append(request)
            sending = asyncio.create_task(self._send(request))
            self._in_flight.add(sending)
            sending.add_done_callback(self._in_flight.discard)
        return set(self._in_flight)

    async def run(self, seconds: float) -> None:
        """The whole schedule, then every answer."""
        await asyncio.gather(*await self.dispatch(seconds))

    async def __aenter__(self) -> FixedRateLoad:
        self._schedule = asyncio.create_task(self.dispatch())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
            self._schedule = None
        await asyncio.gather(*self._in_flight)

    async def wait_accepted(self, count: int, seconds: float = 30) -> None:
        """Until `count` tasks have been accepted since the load began."""
        async with asyncio.timeout(seconds), self._filed:
            await self._filed.wait_for(lambda: self._accepted_tasks >= count)

    def accepted(self) -> dict[str, str]:
        """Every accepted task: id -> message."""
        return {
            task_id: message
            for request in self.requests
            if request.outcome == "accepted"
            for task_id, message in request.tasks.items()
        }

    def count(self, outcome: str) -> int:
        return sum(len(r.messages) for r in self.requests if r.outcome == outcome)

    def failures(self) -> list[str]:
        return [r.error for r in self.requests if r.outcome == "failed"]

    def refusals(self) -> list[str]:
        return [r.error for r in self.requests if r.outcome == "refused"]

    def _messages(self) -> list[str]:
        messages = []
        for _ in range(self._batch):
            number = next(self._numbers)
            sample = SAMPLES[number % len(SAMPLES)]
            messages.append(f"{self._label} {number} {sample}{self._padding}")
        return messages

    async def _send(self, request: Request) -> None:
        try:
            request.task_ids = await self._send_batch(request.messages)
            request.outcome = "accepted"
        except Refused as refusal:
            request.outcome, request.error = "refused", str(refusal)
        except Failed as failure:
            request.outcome, request.error = "failed", str(failure)
        except Exception as error:  # counted and reported; the schedule goes on
            request.outcome, request.error = "failed", repr(error)
        request.ended = time.perf_counter()
        if request.outcome == "accepted":
            self._accepted_tasks += len(request.task_ids)
        async with self._filed:
            self._filed.notify_all()
