"""The fault suite's load and its ledger.

`SteadyLoad` sends batches of tasks through GraphQL on a fixed schedule (a slow answer
never delays the next request) and files every answer as accepted, refused with a
retryable error, or failed (a 5xx, a non-GraphQL body, an unexpected error or no
answer within the client's timeout). `settle` then waits until the pipeline has caught
up and checks the promise: every task PostgreSQL holds (which includes every accepted
one) is processed exactly once with the right code, reached every listening WebSocket
client, and left nothing behind in the outbox or in `task.process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

import asyncpg
import httpx

from binconv import reference
from devstack.infra import REPO, LocalRabbitMQ
from pyservices.common.topology import DEAD_LETTER_QUEUE, WORK_QUEUES
from tests.support.client import SEND_TASK, ResultFeed, result_feed

RESULTS_DIR = REPO / "artifacts" / "faults"

# Every batch mixes one-, two-, three- and four-byte UTF-8, so a wrong conversion shows.
SAMPLES = ("plain ascii", "accents é à ü", "emoji 🦀 ✓", "日本語のテキスト", "tab\there")

# An outbox trigger that records every event ever written, so the ledger can count
# the processed events per task after the relays have deleted the rows. Test-only: it
# is installed in the fault suite's own databases, not by the migrations.
AUDIT_SQL = """
CREATE TABLE outbox_audit (topic text NOT NULL, task_id uuid NOT NULL);
CREATE FUNCTION outbox_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_audit SELECT topic, task_id FROM written;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_audit AFTER INSERT ON outbox REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_audit();
"""


async def install_outbox_audit(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(AUDIT_SQL)
    finally:
        await connection.close()


@dataclass
class Request:
    started: float
    messages: list[str]
    ended: float = 0.0
    outcome: str = "pending"  # accepted | refused | failed
    task_ids: list[str] = field(default_factory=list)
    error: str = ""


class SteadyLoad:
    """Batches of `batch` messages, `rate` messages a second, until the context exits."""

    def __init__(
        self,
        graphql_url: str,
        label: str,
        *,
        rate: float = 100.0,
        batch: int = 5,
        timeout: float = 15.0,
        message_chars: int = 0,
    ) -> None:
        self._url = graphql_url
        self._label = label
        self._interval = batch / rate
        self._batch = batch
        self._timeout = timeout
        self._padding = "x" * message_chars
        self._numbers = itertools.count()
        self.requests: list[Request] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._accepted_tasks = 0
        self._filed = asyncio.Condition()
        self._schedule: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(
            timeout=timeout,
            # Idle connections are dropped before any server would close them.
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0
            ),
        )

    async def __aenter__(self) -> SteadyLoad:
        self._schedule = asyncio.create_task(self._run())
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
        await self._http.aclose()

    async def wait_accepted(self, count: int, seconds: float = 30) -> None:
        """Until `count` tasks have been accepted since the load began."""
        async with asyncio.timeout(seconds), self._filed:
            await self._filed.wait_for(lambda: self._accepted_tasks >= count)

    def accepted(self) -> dict[str, str]:
        return {
            task_id: message
            for request in self.requests
            if request.outcome == "accepted"
            for task_id, message in zip(request.task_ids, request.messages, strict=True)
        }

    def count(self, outcome: str) -> int:
        return sum(len(r.messages) for r in self.requests if r.outcome == outcome)

    def failures(self) -> list[str]:
        return [r.error for r in self.requests if r.outcome == "failed"]

    def refusals(self) -> list[str]:
        return [r.error for r in self.requests if r.outcome == "refused"]

    async def _run(self) -> None:
        next_at = time.perf_counter()
        while True:
            messages = [self._message() for _ in range(self._batch)]
            request = Request(started=time.perf_counter(), messages=messages)
            self.requests.append(request)
            sending = asyncio.create_task(self._send(request))
            self._in_flight.add(sending)
            sending.add_done_callback(self._in_flight.discard)
            next_at += self._interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    def _message(self) -> str:
        number = next(self._numbers)
        return f"{self._label} {number} {SAMPLES[number % len(SAMPLES)]}{self._padding}"

    async def _send(self, request: Request) -> None:
        try:
            response = await self._http.post(
                self._url, json={"query": SEND_TASK, "variables": {"m": request.messages}}
            )
        except httpx.TimeoutException:
            self._file(request, "failed", f"no answer within {self._timeout} s")
            return
        except httpx.TransportError as error:
            self._file(request, "failed", f"transport error {error!r}")
            return
        try:
            body = response.json()
        except ValueError:
            self._file(request, "failed", f"HTTP {response.status_code}, not JSON")
            return
        errors = body.get("errors") if isinstance(body, dict) else None
        if response.status_code >= 500:
            self._file(request, "failed", f"HTTP {response.status_code}: {errors}")
        elif errors:
            extensions = errors[0].get("extensions") or {}
            retryable = extensions.get("code") == "UNAVAILABLE" and extensions.get("retryable")
            self._file(request, "refused" if retryable else "failed", json.dumps(errors))
        else:
            request.task_ids = [task["id"] for task in body["data"]["sendTask"]]
            self._file(request, "accepted", "")
            self._accepted_tasks += len(request.task_ids)
        async with self._filed:
            self._filed.notify_all()

    @staticmethod
    def _file(request: Request, outcome: str, error: str) -> None:
        request.ended = time.perf_counter()
        request.outcome = outcome
        request.error = error


@dataclass
class Row:
    """One line of the README's reliability table."""

    fault: str
    sent: int
    accepted: int
    refused: int
    processed: int
    lost: int
    duplicates: int
    recovery_seconds: float | None
    notes: str = ""

    def save(self, slug: str) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / f"{slug}.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


@contextlib.asynccontextmanager
async def listening(
    url: str, clients: int = 2, keep_codes: bool = True
) -> AsyncIterator[list[ResultFeed]]:
    """`clients` WebSocket connections, each collecting every frame it receives."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(result_feed(url, keep_codes)) for _ in range(clients)
        ]


@dataclass
class Pipeline:
    """Where the ledger looks: the database, the broker's virtual host, the listeners."""

    database_url: str
    rabbitmq: LocalRabbitMQ
    vhost: str


async def settle(
    pipeline: Pipeline,
    load: SteadyLoad,
    feeds: Sequence[ResultFeed],
    *,
    fault: str,
    healed_at: float | None,
    dead_letters: int = 0,
    seconds: float = 60,
    also_accepted: dict[str, str] | None = None,
) -> Row:
    """Wait for the pipeline to catch up after the load stopped, then check the ledger.

    `also_accepted` maps tasks accepted outside the load (id -> SHA-256 of the message).
    Rows are read through a cursor and only digests kept: the check must not need the
    memory of maximum-size tasks.
    """
    assert load.failures() == [], f"requests that failed: {load.failures()[:3]}"
    connection = await asyncpg.connect(pipeline.database_url)
    try:
        stored = await _stored_ids(connection)
        await _wait_for_every_result(connection, feeds, stored, seconds)
        tasks: dict[str, StoredTask] = {}
        wrong: list[str] = []
        async with connection.transaction():
            async for row in connection.cursor(
                "SELECT id, message, binary_code, processed_at FROM tasks", prefetch=64
            ):
                code = row["binary_code"]
                if row["processed_at"] is None or code != reference.encode(row["message"]):
                    wrong.append(str(row["id"]))
                tasks[str(row["id"])] = StoredTask(_sha(row["message"]), _sha(code))
        accepted = {task_id: _sha(message) for task_id, message in load.accepted().items()}
        accepted |= also_accepted or {}
        lost = {task_id for task_id in accepted if task_id not in tasks}
        assert not lost, f"{len(lost)} accepted tasks are not stored"
        changed = [task_id for task_id in accepted if tasks[task_id].message != accepted[task_id]]
        assert not changed, f"{len(changed)} tasks stored with another message: {changed[:3]}"
        assert not wrong, f"{len(wrong)} tasks unprocessed or wrongly converted: {wrong[:3]}"
        await _assert_one_event_of_each_kind(connection, set(tasks))
        for feed in feeds:
            for frame in feed.frames:
                code = frame.get("binaryCodeSha256") or _sha(frame["binaryCode"])
                assert code == tasks[frame["id"]].code
        await _wait_until_outbox_is_empty(connection, seconds=30)
    finally:
        await connection.close()
    await _wait_until_queues_settle(pipeline, dead_letters, seconds=30)
    return Row(
        fault=fault,
        sent=sum(len(request.messages) for request in load.requests),
        accepted=len(accepted),
        refused=load.count("refused"),
        processed=len(tasks),
        lost=len(lost),
        duplicates=sum(feed.duplicates() for feed in feeds),
        recovery_seconds=_recovery(load, feeds, healed_at),
    )


@dataclass(frozen=True, slots=True)
class StoredTask:
    """SHA-256 digests of a stored task's message and binary code."""

    message: str
    code: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _stored_ids(connection: asyncpg.Connection) -> set[str]:
    return {str(row["id"]) for row in await connection.fetch("SELECT id FROM tasks")}


async def _wait_for_every_result(
    connection: asyncpg.Connection, feeds: Sequence[ResultFeed], ids: set[str], seconds: float
) -> None:
    try:
        await asyncio.gather(*(feed.wait_for(ids, seconds) for feed in feeds))
    except TimeoutError:
        missing = [sorted(ids - feed.first_arrival.keys()) for feed in feeds]
        unprocessed = await connection.fetchval(
            "SELECT count(*) FROM tasks WHERE processed_at IS NULL"
        )
        outbox = await connection.fetch("SELECT topic, count(*) FROM outbox GROUP BY topic")
        raise AssertionError(
            f"results that never reached the WebSocket clients within {seconds} s, of "
            f"{len(ids)}, per client: {missing}; {unprocessed} tasks unprocessed; "
            f"outbox {dict(outbox)}"
        ) from None


async def _assert_one_event_of_each_kind(connection: asyncpg.Connection, ids: set[str]) -> None:
    rows = await connection.fetch("SELECT topic, task_id FROM outbox_audit")
    events = Counter((row["topic"], str(row["task_id"])) for row in rows)
    for topic in ("task.created", "task.processed"):
        counts = Counter(events[(topic, task_id)] for task_id in ids)
        assert counts == Counter({1: len(ids)}), f"{topic} events per task: {dict(counts)}"


async def _wait_until_outbox_is_empty(connection: asyncpg.Connection, seconds: float) -> None:
    # The relay deletes its rows right after the confirms, so a result can reach a
    # client a moment before its row leaves the outbox.
    left = -1
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while (left := await connection.fetchval("SELECT count(*) FROM outbox")) > 0:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.1)
    assert left == 0, f"{left} rows still in the outbox after {seconds} s"


async def _wait_until_queues_settle(pipeline: Pipeline, dead_letters: int, seconds: float) -> None:
    expected = {queue: (0, 0) for queue in WORK_QUEUES} | {DEAD_LETTER_QUEUE: (dead_letters, 0)}
    deadline = time.perf_counter() + seconds
    while True:
        depths = await asyncio.to_thread(pipeline.rabbitmq.queue_depths, pipeline.vhost)
        seen = {name: depths.get(name) for name in expected}
        if seen == expected or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.5)
    assert seen == expected, f"queues (ready, unacked): {seen}, expected {expected}"


@dataclass
class Trial:
    """One fault case in progress: its load, its listeners, and when the fault ended."""

    load: SteadyLoad
    feeds: list[ResultFeed]
    healed_at: float | None = None
    row: Row | None = None
    also_accepted: dict[str, str] = field(default_factory=dict)

    def healed(self) -> None:
        self.healed_at = time.perf_counter()


@contextlib.asynccontextmanager
async def under_load(
    pipeline: Pipeline,
    graphql_url: str,
    websocket_url: str,
    fault: str,
    *,
    dead_letters: int = 0,
    listeners: int = 2,
    keep_codes: bool = True,
    settle_seconds: float = 60,
    **load_options: Any,
) -> AsyncIterator[Trial]:
    """Listen, send a steady load while the block injects its fault, then stop the load
    and settle the ledger (into `trial.row`) while the listeners are still connected.
    Tasks the block stores itself go in `trial.also_accepted` (id -> message digest)."""
    async with listening(websocket_url, listeners, keep_codes) as feeds:
        async with SteadyLoad(graphql_url, fault, **load_options) as load:
            trial = Trial(load, feeds)
            yield trial
        trial.row = await settle(
            pipeline,
            load,
            feeds,
            fault=fault,
            healed_at=trial.healed_at,
            dead_letters=dead_letters,
            seconds=settle_seconds,
            also_accepted=trial.also_accepted,
        )


def _recovery(
    load: SteadyLoad, feeds: Sequence[ResultFeed], healed_at: float | None
) -> float | None:
    """From the end of the fault until every task accepted by then, and the first task
    sent after it, had reached every WebSocket client."""
    if healed_at is None:
        return None
    accepted = [r for r in load.requests if r.outcome == "accepted"]
    targets = [task for r in accepted if r.started < healed_at for task in r.task_ids]
    after = [r for r in accepted if r.started >= healed_at]
    if after:
        targets += min(after, key=lambda r: r.started).task_ids
    if not targets:
        return None
    caught_up = max(feed.first_arrival[task] for feed in feeds for task in targets)
    return round(max(0.0, caught_up - healed_at), 2)


def latency_figures(load: SteadyLoad, feed: ResultFeed) -> dict[str, float]:
    """Median and p99 from a sendTask call's start to its result on `feed`, in ms."""
    latencies = [
        (feed.first_arrival[task] - r.started) * 1000
        for r in load.requests
        if r.outcome == "accepted"
        for task in r.task_ids
        if task in feed.first_arrival
    ]
    if len(latencies) < 2:
        return {}
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}
