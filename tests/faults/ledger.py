"""The fault suite's ledger: after a case, the promise holds.

`settle` waits until the pipeline has caught up and checks that every task PostgreSQL
holds (which includes every accepted one) is processed exactly once with the right
code, reached every listening WebSocket client, and left nothing behind in the outbox
or in `task.process`; it returns the case's row of the README's reliability table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import asyncpg

from binconv import reference
from devstack.infra import REPO, LocalRabbitMQ
from pyservices.common.topology import DEAD_LETTER_QUEUE, WORK_QUEUES
from tests.support.client import ResultFeed
from tests.support.load import FixedRateLoad

RESULTS_DIR = REPO / "artifacts" / "faults"

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


@dataclass
class Pipeline:
    """Where the ledger looks: the database, the broker's virtual host, the listeners."""

    database_url: str
    rabbitmq: LocalRabbitMQ
    vhost: str


async def settle(
    pipeline: Pipeline,
    load: FixedRateLoad,
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


def _recovery(
    load: FixedRateLoad, feeds: Sequence[ResultFeed], healed_at: float | None
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
