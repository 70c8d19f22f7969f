"""The client registry: fan-out to bounded buffers, slow clients dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from pyservices.common.events import TaskProcessed
from pyservices.websocket.adapters.websocket_endpoint import origin_allowed
from pyservices.websocket.domain import (
    SHUTDOWN,
    TOO_SLOW,
    ClientRegistry,
    Frame,
    frame_of,
    seconds_since_created,
)
from pyservices.websocket.usecases import push_processed_task
from tests.unit.websocket.websocket_fakes import FakeClient

CREATED = datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC)


def text(value: str) -> Frame:
    return Frame(value, len(value.encode()))


def event(task_id: str = "t1", binary_code: str = "01000001") -> TaskProcessed:
    return TaskProcessed(task_id, binary_code, CREATED, CREATED)


def test_every_client_gets_every_frame() -> None:
    registry = ClientRegistry()
    clients = [FakeClient(), FakeClient(), FakeClient()]
    for client in clients:
        registry.add(client)

    for n in range(5):
        registry.broadcast(text(f"frame {n}"))

    assert all(client.frames == [f"frame {n}" for n in range(5)] for client in clients)


def test_a_client_with_a_full_buffer_is_dropped_and_the_others_keep_receiving() -> None:
    registry = ClientRegistry()
    slow, fast = FakeClient(capacity=2), FakeClient()
    registry.add(slow)
    registry.add(fast)

    results = [registry.broadcast(text(f"frame {n}")) for n in range(4)]

    assert slow.dropped_for == TOO_SLOW
    assert [r.dropped for r in results] == [[], [], [slow], []]
    assert [r.delivered for r in results] == [2, 2, 1, 1]
    assert len(fast.frames) == 4
    assert list(registry.clients) == [fast]


def test_a_removed_client_gets_nothing_more() -> None:
    registry = ClientRegistry()
    client = FakeClient()
    registry.add(client)
    registry.remove(client)
    registry.remove(client)  # twice is harmless

    registry.broadcast(text("frame"))

    assert client.frames == [] and len(registry) == 0


def test_drop_all_tells_every_client_why() -> None:
    registry = ClientRegistry()
    clients = [FakeClient(), FakeClient()]
    for client in clients:
        registry.add(client)

    assert registry.drop_all(SHUTDOWN) == 2
    assert [c.dropped_for for c in clients] == [SHUTDOWN, SHUTDOWN]
    assert len(registry) == 0


def test_the_frame_carries_id_and_binary_code_as_in_the_original() -> None:
    frame = orjson.loads(frame_of(event("abc", "0110")).text)

    assert frame["id"] == "abc"
    assert frame["binaryCode"] == "0110"
    assert frame["createdAt"] == "2026-11-24T07:00:00+00:00"


def test_the_latency_is_measured_from_creation() -> None:
    later = datetime(2026, 11, 24, 7, 0, 0, 12000, tzinfo=UTC)
    naive = TaskProcessed("t", "0", CREATED.replace(tzinfo=None), CREATED)

    assert seconds_since_created(event(), later) == 0.012
    assert seconds_since_created(naive, later) == 0.012


def test_push_fans_a_processed_event_out() -> None:
    registry = ClientRegistry()
    client = FakeClient()
    registry.add(client)

    fan_out = push_processed_task(event("t9").to_json(), registry)

    assert fan_out is not None and fan_out.delivered == 1
    assert orjson.loads(client.frames[0])["id"] == "t9"


def test_push_skips_a_malformed_body_without_raising() -> None:
    registry = ClientRegistry()
    client = FakeClient()
    registry.add(client)

    assert push_processed_task(b"not json", registry) is None
    assert push_processed_task(b'{"id": 1}', registry) is None
    assert client.frames == []


def test_origins_any_exact_or_missing() -> None:
    assert origin_allowed("http://any.example", frozenset({"*"}))
    assert origin_allowed("http://page.example", frozenset({"http://page.example"}))
    assert not origin_allowed("http://evil.example", frozenset({"http://page.example"}))
    assert origin_allowed(None, frozenset({"http://page.example"}))
