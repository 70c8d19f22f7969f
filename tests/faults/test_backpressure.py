"""Backpressure against the real stack: a broker that blocks publishes, bounds that
refuse new work instead of letting the queue and the outbox grow, and a request that
tries to pass the maximum with two sendTask fields. Each case ends with the ledger
(nothing accepted lost, one event of each kind per task, codes right, outbox and
queues drained) and saves its row to artifacts/faults/.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.infra import LocalRabbitMQ
from pyservices.common.topology import PROCESS_QUEUE
from tests.faults.conftest import FaultStack
from tests.faults.probes import metric, until
from tests.faults.trial import Trial
from tests.support.client import SEND_TASK

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

ALARM_SECONDS = 5.0
# A fraction of the machine's memory that any running node is over: the alarm at once.
ALARM_WATERMARK = "0.0000001"
NORMAL_WATERMARK = "0.4"  # RabbitMQ's default


async def test_a_broker_memory_alarm_holds_events_in_the_outbox_and_loses_nothing(
    running_on_own_rabbitmq: FaultStack, own_rabbitmq: LocalRabbitMQ
) -> None:
    stack = running_on_own_rabbitmq
    async with stack.under_load("RabbitMQ memory alarm for 5 s") as trial:
        await trial.load.wait_accepted(100)
        try:
            await _watermark(own_rabbitmq, ALARM_WATERMARK)
            alarm_on = time.perf_counter()
            # The broker blocks the relay's connection at its next publish, which the
            # steady load brings within a few milliseconds.
            await until(lambda: _relay_blocked(stack), 30)
            blocked_after = time.perf_counter() - alarm_on
            status, health = await _health(stack, "publisher")
            await asyncio.sleep(ALARM_SECONDS)  # the alarm itself
            held = await _outbox_rows(stack)
            still = await metric(stack, "publisher", "binconv_relay_broker_blocked")
        finally:
            alarm_off = time.perf_counter()
            await _watermark(own_rabbitmq, NORMAL_WATERMARK)
        trial.healed()
        await until(lambda: _relay_unblocked(stack), 30)
        await stack.wait_all_healthy(30)
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)
        failed = await metric(stack, "publisher", "binconv_outbox_publish_failures_total")

    assert status == 503, health
    assert health["checks"]["broker"] == "down: BrokerBlocked", health
    assert still == 1.0  # blocked for the whole alarm, not only at its start
    # sendTask needs only PostgreSQL: the tasks wait in the outbox, clients see no error.
    during = _accepted_between(trial, alarm_on, alarm_off)
    assert during > 0, "no task was accepted during the alarm"
    assert held > 0, "the outbox held nothing at the end of the alarm"
    notes = (
        f"the relay reported the block {blocked_after:.1f} s after the alarm (/health 503 "
        f"broker 'down: BrokerBlocked', binconv_relay_broker_blocked 1); {during} tasks "
        f"accepted while it lasted; the outbox held {held} rows at its end; "
        f"{failed:.0f} publishes failed"
    )
    trial.save("13-broker-memory-alarm", notes)


MAX_QUEUED_TASKS = 50
MAX_BACKLOG_EVENTS = 100
# How long the refusals go on, the queue and the outbox watched, before the worker comes.
REFUSING_SECONDS = 5.0
# What the steady load sends in two seconds (100 tasks a second): how far past its limit
# each bound may go, since each is read only now and then.
OVERSHOOT = 200


async def test_without_a_worker_sendtask_is_refused_instead_of_the_queue_and_outbox_growing(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.start("task_service", MAX_BACKLOG_EVENTS=str(MAX_BACKLOG_EVENTS))
    await stack.start("publisher", MAX_QUEUED_TASKS=str(MAX_QUEUED_TASKS))
    await stack.start("websocket")
    await stack.start("gateway")
    async with stack.under_load("no worker: bounded queue and outbox, sendTask refused") as trial:

        async def refusing() -> bool:
            return bool(trial.load.refusals())

        await until(refusing, 60)
        # While refusals go on, neither the queue nor the outbox takes in the load.
        queued, outbox = [], []
        window = time.perf_counter()
        while time.perf_counter() < window + REFUSING_SECONDS:
            queued.append(await _ready(stack))
            outbox.append(await _outbox_rows(stack))
            await asyncio.sleep(0.25)
        offered, refused = _offered_and_refused(trial, window, time.perf_counter())
        held_back = await metric(stack, "publisher", "binconv_relay_created_held_back")
        async with httpx.AsyncClient(timeout=15) as http:
            probe = await http.post(
                stack.ports.graphql_url,
                json={"query": SEND_TASK, "variables": {"m": ["a probe while behind"]}},
            )
        refused_before = trial.load.count("refused")
        await stack.start("worker")
        trial.healed()
        assert trial.healed_at is not None
        accepted_again = await _first_accepted_after(trial, trial.healed_at, seconds=60)
        await trial.load.wait_accepted(len(trial.load.accepted()) + 200)

    assert held_back == 1.0
    # Bounded: each at most its limit plus what arrives before the next reading (the
    # relay reads the depth at most once a second, the task service the backlog every
    # half second). The queue's depth as rabbitmqctl reports it lags (a quorum queue's
    # counters are published periodically), so a first reading may still be 0.
    assert max(queued) <= MAX_QUEUED_TASKS + OVERSHOOT, queued
    assert max(outbox) <= MAX_BACKLOG_EVENTS + OVERSHOOT, outbox
    # The load the system could not absorb was refused, not stored somewhere else.
    assert refused >= 0.9 * offered, (offered, refused)
    body = probe.json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}, body
    assert "the system is behind" in error["message"], body
    assert f"over the limit of {MAX_BACKLOG_EVENTS}" in error["message"], body
    assert body.get("data") is None, body
    refusal = json.loads(trial.load.refusals()[0])[0]
    assert refusal["extensions"] == {"code": "UNAVAILABLE", "retryable": True}, refusal
    assert "the system is behind" in refusal["message"], refusal
    notes = (
        f"{trial.settled.refused} tasks refused, {refused_before} of them before the worker "
        f"started (HTTP {probe.status_code}, {error['message']!r}); accepted again "
        f"{accepted_again:.1f} s after it was up; task.process held at most {max(queued)} "
        f"tasks (limit {MAX_QUEUED_TASKS}), the outbox at most {max(outbox)} rows (limit "
        f"{MAX_BACKLOG_EVENTS})"
    )
    trial.save("14-backpressure-no-worker", notes)


MAX_MESSAGES = 1000
PER_FIELD = 600
TWO_SEND_TASKS = (
    "mutation($a: [String!]!, $b: [String!]!) { "
    "first: sendTask(messages: $a) { id } second: sendTask(messages: $b) { id } }"
)


async def test_two_aliased_sendtask_fields_over_the_maximum_are_refused_whole(
    running_stack: FaultStack,
) -> None:
    stack = running_stack
    marker = f"aliased-{uuid.uuid4()}"
    async with stack.under_load("two aliased sendTask fields of 600 messages") as trial:
        await trial.load.wait_accepted(50)
        halves = [[f"{marker} {field} {n}" for n in range(PER_FIELD)] for field in "ab"]
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.post(
                stack.ports.graphql_url,
                json={"query": TWO_SEND_TASKS, "variables": {"a": halves[0], "b": halves[1]}},
            )
            stored = await _count_tasks(stack, f"{marker} %")
            await stack.wait_all_healthy(10)
            normal = [f"{marker} normal {n}" for n in range(5)]
            answer = await http.post(
                stack.ports.graphql_url, json={"query": SEND_TASK, "variables": {"m": normal}}
            )
        tasks = answer.json()["data"]["sendTask"]
        trial.also_accepted.update({task["id"]: _sha(task["message"]) for task in tasks})
        await asyncio.gather(*(feed.wait_for(set(trial.also_accepted), 30) for feed in trial.feeds))
        await trial.load.wait_accepted(len(trial.load.accepted()) + 100)

    assert 2 * PER_FIELD > MAX_MESSAGES
    body = refused.json()
    [error] = body["errors"]
    assert "a request may hold one sendTask field, this one holds 2" in error["message"], body
    assert body.get("data") is None, body
    assert refused.status_code == 200, (refused.status_code, body)
    assert stored == 0, f"{stored} tasks of the refused request were stored"
    assert [task["message"] for task in tasks] == normal
    assert await _count_tasks(stack, f"{marker} %") == len(normal)
    notes = (
        f"2 x {PER_FIELD} messages in aliased sendTask fields: HTTP {refused.status_code}, "
        f"{error['message']!r}; nothing stored; a normal request then accepted and processed"
    )
    trial.save("15-aliased-send-tasks", notes)


# Helpers


async def _watermark(rabbitmq: LocalRabbitMQ, fraction: str) -> None:
    await asyncio.to_thread(rabbitmq.ctl, "set_vm_memory_high_watermark", fraction)


async def _health(stack: FaultStack, name: str) -> tuple[int, dict[str, Any]]:
    service = name.split("-")[0]
    url = stack.processes.instance_ports[name].health_url(service)
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def _relay_blocked(stack: FaultStack) -> bool:
    status, _ = await _health(stack, "publisher")
    gauge = await metric(stack, "publisher", "binconv_relay_broker_blocked")
    return status == 503 and gauge == 1.0


async def _relay_unblocked(stack: FaultStack) -> bool:
    status, _ = await _health(stack, "publisher")
    gauge = await metric(stack, "publisher", "binconv_relay_broker_blocked")
    return status == 200 and gauge == 0.0


def _accepted_between(trial: Trial, start: float, end: float) -> int:
    """Tasks of the requests sent between `start` and `end` that were accepted."""
    return sum(
        len(request.task_ids)
        for request in trial.load.requests
        if request.outcome == "accepted" and start <= request.started < end
    )


def _offered_and_refused(trial: Trial, start: float, end: float) -> tuple[int, int]:
    """Tasks of the requests sent between `start` and `end` (and answered), and how many
    of them were refused."""
    sent = [
        request
        for request in trial.load.requests
        if start <= request.started < end and request.outcome != "pending"
    ]
    refused = [request for request in sent if request.outcome == "refused"]
    return sum(len(r.messages) for r in sent), sum(len(r.messages) for r in refused)


async def _first_accepted_after(trial: Trial, since: float, seconds: float) -> float:
    """Seconds from `since` until a request sent after it was accepted."""
    async with asyncio.timeout(seconds):
        while True:
            ended = [
                request.ended
                for request in trial.load.requests
                if request.outcome == "accepted" and request.started >= since
            ]
            if ended:
                return min(ended) - since
            await asyncio.sleep(0.1)


async def _ready(stack: FaultStack) -> int:
    pipeline = stack.pipeline
    depths = await asyncio.to_thread(pipeline.rabbitmq.queue_depths, pipeline.vhost)
    return depths.get(PROCESS_QUEUE, (0, 0))[0]


async def _outbox_rows(stack: FaultStack) -> int:
    return int(await _fetchval(stack, "SELECT count(*) FROM outbox"))


async def _count_tasks(stack: FaultStack, pattern: str) -> int:
    return int(await _fetchval(stack, "SELECT count(*) FROM tasks WHERE message LIKE $1", pattern))


async def _fetchval(stack: FaultStack, query: str, *args: object) -> Any:
    connection = await asyncpg.connect(stack.pipeline.database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
