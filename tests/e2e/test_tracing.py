"""One trace per task across all five services (docs/tracing.md), received by the dev
stack's OTLP receiver inside the test: parented across the outbox and the broker, in
causal order, with the task id; a redelivery visible in its trace; nothing traced,
stored or sent when tracing is off or sampled out."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx
import pytest
from playwright.sync_api import sync_playwright

from devstack.infra import REPO, LocalRabbitMQ
from devstack.traces import Span, TraceReceiver, receiving
from pyservices.common.topology import (
    PROCESS_QUEUE,
    declare_process_queue,
    declare_processed_exchange,
)
from tests.browser.site import CHROMIUM, CHROMIUM_ARGS
from tests.support.client import GraphQLClient, result_feed
from tests.support.processes import ServiceProcesses

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SPANS_FILE = REPO / "artifacts" / "traces" / "test_tracing.jsonl"
SCREENSHOT = REPO / "artifacts" / "screenshots" / "trace.png"
SERVICE_NAMES = {
    "binconv-gateway",
    "binconv-task-service",
    "binconv-relay",
    "binconv-worker",
    "binconv-websocket",
}
# The gRPC instrumentation names its spans for the full method path, with its slash.
GRPC_METHOD = "/binconv.task.v1.TaskService/ReceiveTaskToProcess"
# docs/tracing.md's spans from the WebSocket push up to the root: (service, name, kind,
# attributes it documents). Each is the parent of the one above it.
CHAIN: list[tuple[str, str, str, set[str]]] = [
    (
        "binconv-websocket",
        "task.processed push",
        "consumer",
        {"binconv.task.id", "binconv.subscribers", "binconv.bytes"},
    ),
    (
        "binconv-relay",
        "outbox publish task.processed",
        "producer",
        {"binconv.task.id", "binconv.outbox.wait_ms", "binconv.batch.size"},
    ),
    ("binconv-task-service", "result.record", "internal", {"binconv.task.id", "binconv.result"}),
    (
        "binconv-worker",
        "task.process receive",
        "consumer",
        {
            "binconv.task.id",
            "messaging.rabbitmq.redelivered",
            "binconv.delivery_count",
            "binconv.queue.wait_ms",
            "binconv.bytes",
        },
    ),
    (
        "binconv-relay",
        "outbox publish task.created",
        "producer",
        {
            "binconv.task.id",
            "binconv.outbox.wait_ms",
            "binconv.batch.size",
            "messaging.destination.name",
        },
    ),
    ("binconv-task-service", "tasks.insert", "internal", {"binconv.messages", "binconv.task.ids"}),
    ("binconv-task-service", GRPC_METHOD, "server", set()),
    ("binconv-gateway", GRPC_METHOD, "client", set()),
    ("binconv-gateway", "sendTask", "internal", {"binconv.messages", "binconv.bytes"}),
    ("binconv-gateway", "POST /query", "server", set()),
]
CONVERT = ("binconv-worker", "convert", "internal", {"binconv.task.id", "binconv.bytes"})
# Spans of one machine's processes share its clock; a little slack for rounding.
CLOCK_TOLERANCE_NS = 1_000_000
# Spans leave each service within OTEL_BSP_SCHEDULE_DELAY ms.
TRACING_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


def traced(receiver: TraceReceiver, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.otlp_endpoint, **TRACING_ENV, **extra}


@pytest.fixture(scope="module")
def receiver() -> Iterator[TraceReceiver]:
    SPANS_FILE.unlink(missing_ok=True)  # what this run received, for a failure's post-mortem
    with receiving(SPANS_FILE) as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    make_stack: Callable[[], ServiceProcesses], receiver: TraceReceiver
) -> ServiceProcesses:
    stack = make_stack()
    stack.extra_env = traced(receiver)
    stack.start_all()
    return stack


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def send_and_wait(
    stack: ServiceProcesses, http: httpx.AsyncClient, messages: list[str]
) -> list[str]:
    """sendTask, and the ids once every result has reached a WebSocket client."""
    async with result_feed(stack.ports.websocket_url) as feed:
        sent = await GraphQLClient(stack.ports.graphql_url, http).send_tasks(messages)
        ids = [task["id"] for task in sent]
        await feed.wait_for(set(ids), seconds=30)
    return ids


def chain_of(push: Span, by_id: dict[str, Span]) -> list[Span] | None:
    """`push` and its ancestors up to the root; None while one has not arrived yet."""
    chain = [push]
    while chain[-1].parent_span_id is not None:
        parent = by_id.get(chain[-1].parent_span_id)
        if parent is None:
            return None
        chain.append(parent)
    return chain


def complete_chains(ids: list[str]) -> Callable[[list[Span]], dict[str, list[Span]] | None]:
    """For `wait_for`: each task's chain from its push to its root, once every parent
    on the way has arrived."""

    def check(spans: list[Span]) -> dict[str, list[Span]] | None:
        by_id = {span.span_id: span for span in spans}
        chains = {}
        for span in spans:
            task = span.attributes.get("binconv.task.id")
            if span.name == "task.processed push" and task in ids:
                # A hop that lost the context ends the chain early, at a root: the
                # test's comparison with CHAIN then says which.
                chain = chain_of(span, by_id)
                if chain is None:
                    return None
                chains[str(task)] = chain
        return chains if len(chains) == len(ids) else None

    return check


def described(spans: list[Span]) -> list[tuple[str, str, str]]:
    return [(span.service, span.name, span.kind) for span in spans]


async def test_one_send_task_of_three_messages_is_one_trace_through_all_five_services(
    traced_stack: ServiceProcesses, receiver: TraceReceiver, http: httpx.AsyncClient
) -> None:
    ids = await send_and_wait(traced_stack, http, ["one", "two", "three"])

    chains = await asyncio.to_thread(receiver.wait_for, complete_chains(ids), 30)

    trace_ids = {span.trace_id for chain in chains.values() for span in chain}
    assert len(trace_ids) == 1, "one sendTask is one trace"
    trace = [span for span in receiver.spans() if span.trace_id in trace_ids]
    assert {span.service for span in trace} == SERVICE_NAMES
    for task, chain in chains.items():
        # parented across every hop: exactly the documented spans, in order
        assert described(chain) == [(s, n, k) for s, n, k, _ in CHAIN], task
        for span, (_, name, _, attributes) in zip(chain, CHAIN, strict=True):
            missing = attributes - span.attributes.keys()
            assert not missing, f"{name} lacks {sorted(missing)}"
        for child, parent in itertools.pairwise(chain):
            assert child.start_ns >= parent.start_ns - CLOCK_TOLERANCE_NS, (child.name, parent)
        per_task = [span for span in chain if "binconv.task.id" in span.attributes]
        assert len(per_task) == 5 and all(s.attributes["binconv.task.id"] == task for s in per_task)
        assert task in chain[5].attributes["binconv.task.ids"]  # tasks.insert: the whole batch
        receive = chain[3]
        assert receive.attributes["messaging.rabbitmq.redelivered"] is False
        converts = [s for s in trace if s.parent_span_id == receive.span_id and s.name == "convert"]
        assert described(converts) == [CONVERT[:3]]
        assert CONVERT[3] <= converts[0].attributes.keys()
    # no task's spans went astray into a trace of their own
    astray = [
        span
        for span in receiver.spans()
        if span.attributes.get("binconv.task.id") in ids and span.trace_id not in trace_ids
    ]
    assert astray == []


async def test_a_task_redelivered_after_a_worker_kill_shows_the_redelivery_in_its_trace(
    traced_stack: ServiceProcesses,
    receiver: TraceReceiver,
    rabbitmq_server: LocalRabbitMQ,
    http: httpx.AsyncClient,
) -> None:
    stack = traced_stack
    vhost = urlsplit(stack.rabbitmq_url).path.lstrip("/")
    # Frozen, the worker takes the delivery into its prefetch but never settles it; the
    # kill returns it to the queue, and the next worker gets it redelivered.
    stack.running["worker"].send_signal(signal.SIGSTOP)
    try:
        async with result_feed(stack.ports.websocket_url) as feed:
            sent = await GraphQLClient(stack.ports.graphql_url, http).send_tasks(["again"])
            task = sent[0]["id"]
            await until_unacknowledged(rabbitmq_server, vhost)
            await asyncio.to_thread(stack.kill, "worker")
            await asyncio.to_thread(stack.start, "worker")
            await feed.wait_for({task}, seconds=60)
    finally:
        if "worker" in stack.running:  # the kill never came: let the worker go on
            stack.running["worker"].send_signal(signal.SIGCONT)

    def redelivered(spans: list[Span]) -> list[Span] | None:
        receives = [
            span
            for span in spans
            if span.name == "task.process receive"
            and span.attributes.get("binconv.task.id") == task
            and span.attributes.get("messaging.rabbitmq.redelivered") is True
        ]
        return receives or None

    receives = await asyncio.to_thread(receiver.wait_for, redelivered, 30)
    again = receives[-1]
    assert again.attributes["binconv.delivery_count"] >= 1
    publishes = [s for s in receiver.spans() if s.span_id == again.parent_span_id]
    assert described(publishes) == [("binconv-relay", "outbox publish task.created", "producer")]
    # every receive of the task (the first, if its worker exported it before dying) hangs
    # under that one publish span
    all_receives = [
        s
        for s in receiver.spans()
        if s.name == "task.process receive" and s.attributes.get("binconv.task.id") == task
    ]
    assert {s.parent_span_id for s in all_receives} == {publishes[0].span_id}


async def until_unacknowledged(rabbitmq: LocalRabbitMQ, vhost: str) -> None:
    async with asyncio.timeout(30):
        while (await asyncio.to_thread(rabbitmq.queue_depths, vhost))[PROCESS_QUEUE][1] < 1:  # noqa: ASYNC110 (the broker's count)
            await asyncio.sleep(0.1)


async def test_with_tracing_off_nothing_is_traced_stored_or_sent(
    make_stack: Callable[[], ServiceProcesses], http: httpx.AsyncClient
) -> None:
    stack = make_stack()
    # Empty is off, as compose and Kubernetes set it; and whatever the caller exported.
    stack.extra_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", **TRACING_ENV}
    for service in ("task_service", "gateway"):
        await asyncio.to_thread(stack.start, service)
    graphql = GraphQLClient(stack.ports.graphql_url, http)
    task = (await graphql.send_tasks(["untraced"]))[0]["id"]

    # Stored: the outbox row waits (no relay yet) without a trace context.
    database = await asyncpg.connect(stack.database_url)
    try:
        stored = await database.fetch("SELECT trace_context FROM outbox")
    finally:
        await database.close()
    assert [row["trace_context"] for row in stored] == [None]

    # Sent: neither the task nor its result carries a traceparent header.
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        work = await declare_process_queue(channel)
        results = await channel.declare_queue(exclusive=True)
        await results.bind(await declare_processed_exchange(channel))
        await asyncio.to_thread(stack.start, "publisher")
        created = await next_message(work)
        assert created.headers.get("task_id") == task
        assert "traceparent" not in created.headers
        await created.nack(requeue=True)
        for service in ("worker", "websocket"):
            await asyncio.to_thread(stack.start, service)
        processed = await next_message(results)
        assert "traceparent" not in processed.headers
        await processed.ack()

    for service in ("task_service", "gateway", "publisher", "worker", "websocket"):
        log = (stack.log_dir / f"{service}.log").read_text()
        assert "tracing_on" not in log, service


async def next_message(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with asyncio.timeout(30):
        while (message := await queue.get(fail=False)) is None:  # noqa: ASYNC110 (basic.get polls)
            await asyncio.sleep(0.05)
    return message


async def test_sampled_out_the_pipeline_works_and_no_span_is_exported(
    make_stack: Callable[[], ServiceProcesses], http: httpx.AsyncClient
) -> None:
    with receiving() as own_receiver:
        stack = make_stack()
        stack.extra_env = traced(
            own_receiver,
            OTEL_TRACES_SAMPLER="parentbased_traceidratio",
            OTEL_TRACES_SAMPLER_ARG="0",
        )
        await asyncio.to_thread(stack.start_all)

        await send_and_wait(stack, http, ["one", "two", "three"])
        await asyncio.sleep(1.0)  # ten export intervals

        assert own_receiver.spans() == []
    assert "tracing_on" in (stack.log_dir / "gateway.log").read_text()  # on, but sampled out


@pytest.mark.browser
def test_screenshot_of_one_tasks_trace_in_the_viewer(
    traced_stack: ServiceProcesses, receiver: TraceReceiver
) -> None:
    """The viewer's waterfall of one task's trace; `just trace-screenshot` copies it into
    docs/screenshots/ for the README."""
    with httpx.Client(timeout=30) as http:
        sent = http.post(
            traced_stack.ports.graphql_url,
            json={
                "query": "mutation($m: [String!]!) { sendTask(messages: $m) { id } }",
                "variables": {"m": ["Hello, trace"]},
            },
        ).json()
    task = sent["data"]["sendTask"][0]["id"]
    chains = receiver.wait_for(complete_chains([task]), 30)
    trace_id = chains[task][0].trace_id

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.goto(f"{receiver.viewer_url}trace/{trace_id}")
            # one span's attributes open, to show what a click shows
            page.get_by_text("task.process receive", exact=True).click()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
        finally:
            browser.close()

    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(SCREENSHOT, REPO / "docs" / "screenshots" / "trace.png")
