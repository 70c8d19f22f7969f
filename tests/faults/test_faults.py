"""One fault per case while tasks flow, then the ledger: nothing accepted is lost, every
task is processed exactly once in PostgreSQL, every result reaches every listener.

Each case saves its row of the README's reliability table to artifacts/faults/
(`just reliability` runs the suite and regenerates docs/reliability.md from them).
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import pytest

from devstack.infra import LocalPostgres, LocalRabbitMQ, LocalServer
from pyservices.common.topology import DEAD_LETTER_QUEUE, PROCESS_QUEUE, declare_process_queue
from tests.faults.conftest import FaultStack
from tests.faults.probes import (
    connect_and_never_read,
    metric,
    metric_lines,
    rss_mib,
    unacknowledged,
    until,
)
from tests.faults.trial import Trial, latency_figures
from tests.support import slow_relay

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

OUTAGE_SECONDS = 10.0


async def test_a_worker_killed_holding_unacknowledged_messages_is_replaced(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    async with stack.under_load("worker killed (SIGKILL) holding deliveries") as trial:
        await trial.load.wait_accepted(100)
        # Frozen, the worker stops settling while the broker fills its prefetch; the
        # kill then lands while it holds deliveries it has not acknowledged.
        stack.processes.running["worker"].send_signal(signal.SIGSTOP)
        await until(lambda: unacknowledged(stack), 30)
        held = await unacknowledged(stack)
        await stack.kill("worker")
        await stack.start("worker")
        trial.healed()
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)

    notes = f"{held} deliveries unacknowledged at the kill"
    trial.save("1-worker-kill", notes)


async def test_a_relay_killed_between_publish_and_delete_changes_nothing_in_the_database(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    # A relay whose publisher pauses after each confirm (a test-only entry point) makes
    # the window between the broker's confirms and the delete wide enough to kill it in.
    await stack.start_all(modules={"publisher": slow_relay.MODULE})
    async with stack.under_load("relay killed between publish and delete") as trial:
        await trial.load.wait_accepted(50)
        # A result just arrived: its event is published and its row not yet deleted.
        first = trial.feeds[0]
        await first.wait_for_frames(len(first.frames) + 1, 30)
        await stack.kill("publisher")
        await stack.start("publisher")
        trial.healed()
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)

    # The republished events reached the clients again: the window was really hit.
    assert trial.settled.duplicates >= len(trial.feeds)
    notes = "republished events reached the clients twice; the database saw one each"
    trial.save("2-relay-kill", notes)


async def test_two_relays_and_two_workers_share_the_work(running_stack: FaultStack) -> None:
    stack = running_stack
    await stack.start("publisher", instance="publisher-2")
    await stack.start("worker", instance="worker-2")
    async with stack.under_load("two relays and two workers", rate=200, batch=10) as trial:
        await trial.load.wait_accepted(2000, seconds=60)

    by_worker = [
        await metric(stack, name, "binconv_worker_tasks_processed_total")
        for name in ("worker", "worker-2")
    ]
    assert all(count > 0 for count in by_worker), by_worker
    notes = "tasks per worker: " + " / ".join(f"{count:.0f}" for count in by_worker)
    trial.save("3-two-of-each", notes)


async def test_a_broker_outage_delays_but_loses_nothing(
    running_on_own_rabbitmq: FaultStack, own_rabbitmq: LocalRabbitMQ
) -> None:
    trial, accepted_during = await _server_outage(
        running_on_own_rabbitmq, own_rabbitmq, "RabbitMQ stopped for 10 s"
    )

    # sendTask needs only PostgreSQL: clients see the outage only as a delay.
    assert accepted_during > 0
    notes = f"{accepted_during} tasks accepted during the outage"
    trial.save("4-broker-outage", notes)


async def test_a_database_outage_is_a_retryable_error_and_loses_nothing(
    running_on_own_postgres: FaultStack, own_postgres: LocalPostgres
) -> None:
    trial, _ = await _server_outage(
        running_on_own_postgres, own_postgres, "PostgreSQL stopped for 10 s"
    )

    refusals = trial.load.refusals()
    assert refusals, "sendTask was never refused while the database was down"
    # Refused while the task service was up: the error names the database.
    assert any("database unavailable, retry" in refusal for refusal in refusals)
    notes = f"refused with: {json.loads(refusals[0])[0]['message']}"
    if trial.settled.duplicates:
        notes += (
            "; the duplicates are the relay's batch that was published but whose delete the "
            "outage cut off, so it went out again"
        )
    trial.save("5-database-outage", notes)


async def test_a_task_service_crash_is_a_retryable_error_and_results_are_retried(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    async with stack.under_load("task service killed, back after 3 s") as trial:
        await _outage(
            stack,
            trial,
            stop=lambda: stack.kill("task_service"),
            start=lambda: stack.start("task_service"),
            seconds=3,
        )

    refusals = trial.load.refusals()
    assert refusals, "sendTask was never refused while the task service was down"
    assert all("task service unavailable, retry" in refusal for refusal in refusals)
    notes = f"refused with: {json.loads(refusals[0])[0]['message']}"
    trial.save("6-task-service-kill", notes)


POISON = [
    b"",
    b"not json at all",
    b'{"unexpected": "shape"}',
    b'{"id": "not-a-uuid", "message": "hello", "createdAt": "2026-01-01T00:00:00+00:00"}',
    # Well formed, but no such task: the task service answers NOT_FOUND.
    json.dumps(
        {"id": str(uuid.uuid4()), "message": "ghost", "createdAt": "2026-01-01T00:00:00+00:00"}
    ).encode(),
    b"\xff\xfe binary garbage \x00",
]


async def test_poison_messages_are_dead_lettered_and_block_nothing(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    url = stack.processes.rabbitmq_url
    async with stack.under_load(
        "poison messages in task.process", dead_letters=len(POISON)
    ) as trial:
        await trial.load.wait_accepted(50)
        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            for body in POISON:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=PROCESS_QUEUE,
                )
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)

    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        dead = await channel.get_queue(DEAD_LETTER_QUEUE)
        dead_letters = []
        while (message := await dead.get(no_ack=True, fail=False)) is not None:
            dead_letters.append(message)
    assert sorted(message.body for message in dead_letters) == sorted(POISON)
    # Rejected by the worker on their first delivery, not after a round of retries.
    for message in dead_letters:
        deaths = message.headers["x-death"]
        assert isinstance(deaths, list)
        [death] = deaths
        assert isinstance(death, dict)
        assert (death["reason"], death["count"]) == ("rejected", 1), death
    notes = f"{len(POISON)} poison messages dead-lettered on their first delivery"
    trial.save("7-poison", notes)


async def test_a_message_that_keeps_failing_is_dead_lettered_after_the_delivery_limit(
    rabbitmq_url: str,
) -> None:
    # A consumer that crashes on a message hands it back each time; the queue's
    # delivery limit ends the loop instead of the message circling forever.
    async with await aio_pika.connect(rabbitmq_url) as connection:
        channel = await connection.channel()
        queue = await declare_process_queue(channel)
        await channel.default_exchange.publish(
            aio_pika.Message(b"crashes its consumer"), routing_key=PROCESS_QUEUE
        )
        dead = await channel.get_queue(DEAD_LETTER_QUEUE)
        tries = 0
        async with asyncio.timeout(30):
            while (dead_letter := await dead.get(no_ack=True, fail=False)) is None:
                message = await queue.get(fail=False)
                if message is None:  # handed back, not yet ready again
                    await asyncio.sleep(0.05)
                    continue
                tries += 1
                await message.nack(requeue=True)

    assert dead_letter.body == b"crashes its consumer"
    assert 1 < tries <= 6


IDLE_CLIENTS = 200


async def test_a_client_that_never_reads_and_200_idle_ones_slow_no_one_down(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.start_all({"websocket": {"WEBSOCKET_CLIENT_BUFFER": "64"}})
    websocket = stack.processes.running["websocket"]
    async with stack.under_load(
        "a client that never reads, 200 idle clients",
        listeners=2 + IDLE_CLIENTS,
        rate=40,
        batch=4,
        message_chars=200,
    ) as trial:
        stalled = await connect_and_never_read(stack.ports.websocket)
        rss_start = rss_mib(websocket.pid)

        async def dropped() -> bool:
            return await metric(stack, "websocket", "binconv_websocket_disconnects_total") > 0

        await until(dropped, 60)
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)
        rss_end = rss_mib(websocket.pid)
        stalled.close()

    # Only the non-reader was dropped; the others closed their own connections at the end
    # (each counted once the service has finished with it).
    expected = {
        'binconv_websocket_disconnects_total{reason="too slow"}': 1.0,
        'binconv_websocket_disconnects_total{reason="client closed"}': len(trial.feeds),
    }

    async def counted() -> bool:
        reasons = await metric_lines(stack, "websocket", "binconv_websocket_disconnects_total")
        return reasons == expected

    await until(counted, 30)
    # Each client's buffer is bounded (64 frames of ~2 KB here): what the service holds
    # for 203 clients cannot grow with the run.
    assert rss_end - rss_start < 64, (rss_start, rss_end)
    latency = latency_figures(trial.load, trial.feeds[0])
    notes = (
        f"the non-reader was dropped as too slow (close code 4000); the others: p50 "
        f"{latency['p50_ms']} ms, p99 {latency['p99_ms']} ms; WebSocket service RSS "
        f"{rss_start:.0f} → {rss_end:.0f} MiB"
    )
    trial.save("8-slow-clients", notes)


# Helpers


async def _server_outage(stack: FaultStack, server: LocalServer, fault: str) -> tuple[Trial, int]:
    """`_outage` of PostgreSQL or RabbitMQ under load: the server stopped, then started
    again; returns the trial and how many tasks were accepted while it was down."""
    async with stack.under_load(fault) as trial:
        accepted_during = await _outage(
            stack,
            trial,
            stop=lambda: asyncio.to_thread(server.stop),
            start=lambda: asyncio.to_thread(server.start),
        )
    return trial, accepted_during


async def _outage(
    stack: FaultStack,
    trial: Trial,
    *,
    stop: Callable[[], Awaitable[object]],
    start: Callable[[], Awaitable[object]],
    seconds: float = OUTAGE_SECONDS,
) -> int:
    """Take a part down for `seconds` while the load goes on, bring it back, and wait
    until every service is healthy and 200 more tasks got through; returns how many
    tasks were accepted while it was down."""
    await trial.load.wait_accepted(100)
    await stop()
    accepted_before = len(trial.load.accepted())
    await asyncio.sleep(seconds)  # the outage itself
    accepted_during = len(trial.load.accepted()) - accepted_before
    await start()
    trial.healed()
    await stack.wait_all_healthy()
    await trial.load.wait_accepted(len(trial.load.accepted()) + 200)
    return accepted_during
