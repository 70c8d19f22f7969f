"""`/graphql`'s taskProcessed subscription with the real gql client (graphql-transport-ws)
against the real WebSocket service, real RabbitMQ and a real task service (its gRPC
servicer over PostgreSQL), in open mode. Access control: test_subscriptions_access_control."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from websockets.typing import Origin

from pyservices.common.events import TaskProcessed
from pyservices.common.topology import owner_routing_key
from pyservices.websocket.domain import MAX_SUBSCRIBED_IDS
from pyservices.websocket.metrics import DISCONNECTS, SUBSCRIPTIONS
from tests.integration.websocket.subscription_client import (
    closed,
    collecting,
    connect_raw,
    error_of,
    graphql_url,
    message,
    session,
    subscribe_raw,
    subscribed,
    transport,
)
from tests.integration.websocket.task_service_harness import (
    TaskService,
    unused_port,
)
from tests.integration.websocket.websocket_harness import (
    Publisher,
    StartService,
    service_starter,
)

pytestmark = pytest.mark.integration

SECONDS = 20.0
A, B = "01000001", "01000010"


@pytest.fixture
def start(rabbitmq_url: str, tasks: TaskService) -> StartService:
    """Starts a WebSocket service before the task service; yields its /graphql URL."""
    starter = service_starter(rabbitmq_url)

    @contextlib.asynccontextmanager
    async def start(**overrides: object) -> AsyncIterator[str]:
        overrides.setdefault("task_service_addr", tasks.address)
        async with starter(**overrides) as url:
            yield graphql_url(url)

    return start


async def publish(publisher: Publisher, results: list[tuple[str, str]]) -> None:
    """task.processed events of these (id, binary code), as the relay publishes them."""
    now = datetime.now(UTC)
    for task_id, binary_code in results:
        body = TaskProcessed(task_id, binary_code, now, now).to_json()
        await publisher.exchange.publish(
            aio_pika.Message(body, content_type="application/json"),
            routing_key=owner_routing_key(None),
        )


async def test_without_ids_every_result_reaches_every_subscriber_in_order(
    start: StartService, publisher: Publisher
) -> None:
    async with (
        start() as url,
        session(url) as first,
        session(url) as second,
        collecting(first) as a,
        collecting(second) as b,
    ):
        await subscribed(lambda: publisher.publish(1), a, b)
        ids = await publisher.publish(20)

        assert await a.until(20) == ids
        assert await b.until(20) == ids
        result = a.results[0]
        assert result["binaryCode"] == "01000001"
        assert datetime.fromisoformat(result["processedAt"]).utcoffset() is not None
        assert not a.done  # without ids, a subscription lasts until the client ends it


async def test_with_ids_each_task_is_sent_once_then_the_subscription_completes(
    start: StartService, publisher: Publisher, tasks: TaskService
) -> None:
    done, first, second = await tasks.add(count=3)
    await tasks.process(done, A)  # before the subscription: sent at once
    async with (
        start() as url,
        session(url) as opened,
        collecting(opened, [done, first, second]) as feed,
    ):
        assert await feed.until(1) == [done]
        assert feed.results[0]["binaryCode"] == A

        others = [(str(uuid.uuid4()), A) for _ in range(3)]
        # A result delivered twice (at least once on the broker) and one of another task.
        await publish(publisher, [others[0], (first, A), others[1], (first, A), (done, A)])
        await publish(publisher, [(second, B), others[2]])

        assert await feed.completed() == [done, first, second]
        assert [r["binaryCode"] for r in feed.results] == [A, A, B]
        assert feed.error is None


async def test_tasks_processed_before_the_subscription_complete_it_at_once(
    start: StartService, tasks: TaskService
) -> None:
    ids = await tasks.add(count=5)
    for task_id in ids:
        await tasks.process(task_id, B)
    async with start() as url, session(url) as opened, collecting(opened, ids) as feed:
        assert sorted(await feed.completed()) == sorted(ids)


async def test_as_many_ids_as_one_send_task_holds_are_followed(
    start: StartService, publisher: Publisher, tasks: TaskService
) -> None:
    ids = await tasks.add(count=MAX_SUBSCRIBED_IDS)
    for task_id in ids[:500]:
        await tasks.process(task_id, A)
    async with start() as url, session(url) as opened, collecting(opened, ids) as feed:
        await feed.until(500)
        await publish(publisher, [(task_id, B) for task_id in ids[500:]])

        assert sorted(await feed.completed()) == sorted(ids)


async def test_refusals_name_what_is_wrong(start: StartService, tasks: TaskService) -> None:
    [known] = await tasks.add()
    absent = str(uuid.uuid4())
    async with start() as url, session(url) as opened:
        over = await error_of(opened, [str(uuid.uuid4()) for _ in range(MAX_SUBSCRIBED_IDS + 1)])
        assert over["extensions"]["code"] == "BAD_USER_INPUT"
        assert f"at most {MAX_SUBSCRIBED_IDS}" in over["message"]

        not_an_id = await error_of(opened, [known, "42"])
        assert not_an_id["extensions"]["code"] == "BAD_USER_INPUT"
        assert "'42'" in not_an_id["message"]

        unknown = await error_of(opened, [known, absent])
        assert unknown["extensions"] == {"code": "NOT_FOUND", "ids": [absent]}
        assert absent in unknown["message"]

        # The connection outlives its refused subscriptions.
        async with collecting(opened, []) as nothing:
            assert await nothing.completed() == []


async def test_a_task_service_that_is_down_is_an_error_to_retry(start: StartService) -> None:
    down = f"127.0.0.1:{unused_port()}"
    async with (
        start(task_service_addr=down, task_lookup_timeout_seconds=1) as url,
        session(url) as opened,
    ):
        error = await error_of(opened, [str(uuid.uuid4())])

    assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
    assert error["message"] == "task service unavailable, retry"


async def test_ping_is_answered_with_pong_and_complete_ends_one_subscription(
    start: StartService, publisher: Publisher
) -> None:
    async with start() as url:
        client_transport = transport(url)
        async with Client(transport=client_transport) as opened:
            await client_transport.send_ping()
            await asyncio.wait_for(client_transport.pong_received.wait(), SECONDS)

            before = SUBSCRIPTIONS._value.get()
            async with collecting(opened) as ended, collecting(opened) as kept:
                await subscribed(lambda: publisher.publish(1), ended, kept)
                assert SUBSCRIPTIONS._value.get() == before + 2
                await ended.stop()  # the client's complete

                async with asyncio.timeout(SECONDS):
                    while SUBSCRIPTIONS._value.get() != before + 1:  # noqa: ASYNC110 (a gauge)
                        await asyncio.sleep(0.02)
                ids = await publisher.publish(3)
                assert await kept.until(3) == ids
                assert ended.results == []
        async with asyncio.timeout(SECONDS):
            while SUBSCRIPTIONS._value.get() != before:  # noqa: ASYNC110 (a gauge)
                await asyncio.sleep(0.02)


async def test_subscriptions_per_connection_are_capped(
    start: StartService, publisher: Publisher
) -> None:
    async with (
        start(graphql_max_subscriptions_per_connection=2) as url,
        session(url) as opened,
        collecting(opened) as a,
        collecting(opened) as b,
    ):
        await subscribed(lambda: publisher.publish(1), a, b)
        error = await error_of(opened, None)

        assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert "at most 2" in error["message"]
        ids = await publisher.publish(2)
        assert await a.until(2) == ids


async def test_a_connection_counts_once_against_the_callers_cap_shared_with_ws(
    start: StartService, publisher: Publisher
) -> None:
    async with start(websocket_max_connections_per_caller=2) as url:
        ws_url = url.removesuffix("/graphql") + "/ws"
        async with (
            websockets.connect(ws_url),
            session(url) as opened,
            collecting(opened) as a,
            collecting(opened) as b,
        ):
            await subscribed(lambda: publisher.publish(1), a, b)  # two subscriptions, one slot
            extra = await connect_raw(url)
            assert await closed(extra) == (1008, "too many connections for this caller (at most 2)")


async def test_a_disallowed_origin_is_refused_before_the_handshake(start: StartService) -> None:
    async with start(allowed_origins="http://page.example") as url:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect_raw(url, origin=Origin("http://evil.example"))
        assert refused.value.response.status_code == 403

        allowed = await connect_raw(url, origin=Origin("http://page.example"))
        assert (await message(allowed))["type"] == "connection_ack"
        await allowed.close()


async def test_queries_over_http_are_sent_to_the_gateway(start: StartService) -> None:
    async with start() as url, httpx.AsyncClient() as http:
        response = await http.post(url.replace("ws://", "http://"), json={"query": "{ queries }"})

    assert response.status_code == 400
    assert "the gateway's /query" in response.json()["errors"][0]["message"]


async def test_two_replicas_each_serve_their_subscribers(
    start: StartService, publisher: Publisher
) -> None:
    async with (
        start() as first_url,
        start() as second_url,
        session(first_url) as first,
        session(second_url) as second,
        collecting(first) as a,
        collecting(second) as b,
    ):
        await subscribed(lambda: publisher.publish(1), a, b)
        ids = await publisher.publish(20)

        assert await a.until(20) == ids
        assert await b.until(20) == ids


async def test_a_subscriber_that_stops_reading_is_dropped_without_holding_up_others(
    start: StartService, publisher: Publisher
) -> None:
    dropped_before = DISCONNECTS.labels("too slow")._value.get()
    big = "01" * 50_000  # 100 KB results fill the socket buffers quickly
    async with (
        start(websocket_client_buffer=16) as url,
        session(url, connect_args={"max_size": None}) as opened,
        collecting(opened) as reader,
    ):
        # max_queue=1: the client library itself stops reading from the socket.
        stalled = await connect_raw(url, max_queue=1, max_size=None)
        assert (await message(stalled))["type"] == "connection_ack"
        await subscribe_raw(stalled, "1")
        await subscribed(lambda: publisher.publish(1), reader)
        assert (await message(stalled))["type"] == "next"  # the stalled one is subscribed

        for _ in range(30):  # in steps the reader keeps up with
            ids = await publisher.publish(10, binary_code=big)
            assert (await reader.until(10))[-10:] == ids
            reader.results.clear()

        assert DISCONNECTS.labels("too slow")._value.get() == dropped_before + 1
        received = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(30):
                async for _ in stalled:
                    received += 1
        assert received < 300
        assert stalled.close_code in (4000, 1006)


async def test_the_one_query_says_where_queries_are_and_introspection_follows_its_setting(
    start: StartService,
) -> None:
    introspect = GraphQLRequest("{ __schema { subscriptionType { name } } }")
    async with start() as url, session(url) as opened:
        answer = await opened.execute(GraphQLRequest("{ queries }"))
        assert "the gateway's /query" in answer["queries"]
        schema = await opened.execute(introspect)
        assert schema["__schema"]["subscriptionType"]["name"] == "Subscription"
    async with start(graphql_introspection=False) as url, session(url) as opened:
        with pytest.raises(TransportQueryError, match="introspection"):
            await opened.execute(introspect)


async def test_a_stopping_service_closes_its_connections_with_1001(start: StartService) -> None:
    async with start() as url:
        connection = await connect_raw(url)
        assert (await message(connection))["type"] == "connection_ack"

    assert await closed(connection) == (1001, "shutdown")
