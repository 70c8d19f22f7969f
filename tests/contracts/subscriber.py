"""The WebSocket service's Subscriber port's contract, run against every adapter.

A subclass supplies a subscriber whose client reads nothing yet, with its buffer's
bounds (`idle_subscriber`), and one connected to a client that reads (`connected`),
with a way to see what that client received and why its connection closed. Each test
states one promise of the docstring in `pyservices/websocket/ports.py`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest

from pyservices.websocket.domain import SHUTDOWN, TOO_SLOW, Frame
from pyservices.websocket.ports import Subscriber


class Client(Protocol):
    """The far end of a connected subscriber."""

    async def receive(self, count: int) -> list[str]:
        """The next `count` frames' texts, in the order they arrived."""

    async def close_reason(self) -> str:
        """Once its connection has closed: the reason it was given."""


IdleSubscriber = Callable[[int, int], Subscriber]  # (max_frames, max_bytes)
Connected = Callable[[], Awaitable[tuple[Subscriber, Client]]]


def frame(text: str) -> Frame:
    return Frame(text, len(text.encode()))


class SubscriberContract:
    @pytest.fixture
    def idle_subscriber(self) -> IdleSubscriber:
        raise NotImplementedError("a subscriber whose client reads nothing yet")

    @pytest.fixture
    def connected(self) -> Connected:
        raise NotImplementedError("a subscriber and the client at its far end")

    def test_neither_method_can_await(self, idle_subscriber: IdleSubscriber) -> None:
        subscriber = idle_subscriber(10, 1000)

        assert not inspect.iscoroutinefunction(subscriber.offer)
        assert not inspect.iscoroutinefunction(subscriber.drop)
        assert subscriber.offer(frame("{}")) is True
        subscriber.drop(TOO_SLOW)  # returns at once, nothing to await

    def test_offer_is_false_once_the_buffer_is_full_in_frames(
        self, idle_subscriber: IdleSubscriber
    ) -> None:
        subscriber = idle_subscriber(3, 1 << 20)

        assert [subscriber.offer(frame("{}")) for _ in range(5)] == [True] * 3 + [False] * 2

    def test_offer_is_false_once_the_buffer_is_full_in_utf8_bytes(
        self, idle_subscriber: IdleSubscriber
    ) -> None:
        subscriber = idle_subscriber(1000, 10)
        four_bytes = frame("éé")  # two characters, four bytes

        assert [subscriber.offer(four_bytes) for _ in range(3)] == [True, True, False]

    def test_a_refused_frame_takes_no_room(self, idle_subscriber: IdleSubscriber) -> None:
        subscriber = idle_subscriber(1000, 10)

        assert subscriber.offer(frame("x" * 6))
        assert not subscriber.offer(frame("x" * 6))
        assert subscriber.offer(frame("x" * 4))  # 6 + 4: it fits only if nothing else was

    def test_an_empty_buffer_takes_one_frame_larger_than_its_byte_bound(
        self, idle_subscriber: IdleSubscriber
    ) -> None:
        subscriber = idle_subscriber(1000, 10)

        assert subscriber.offer(frame("x" * 100))  # not behind: nothing waits before it
        assert not subscriber.offer(frame("x"))

    async def test_offered_frames_reach_the_client_in_order(self, connected: Connected) -> None:
        subscriber, client = await connected()
        texts = ['{"id": "1"}', '{"id": "é🚀"}', "x" * 100_000]

        assert all(subscriber.offer(frame(text)) for text in texts)

        assert await client.receive(3) == texts

    @pytest.mark.parametrize("reason", [TOO_SLOW, SHUTDOWN])
    async def test_drop_closes_the_connection_naming_why(
        self, connected: Connected, reason: str
    ) -> None:
        subscriber, client = await connected()

        subscriber.drop(reason)

        assert await client.close_reason() == reason
