"""Each client's buffer is bounded in bytes as well as in frames."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

from starlette.websockets import WebSocket

from pyservices.common.events import TaskProcessed
from pyservices.websocket.adapters.websocket_endpoint import ClientConnection
from pyservices.websocket.domain import TOO_SLOW, BufferBudget, ClientRegistry, Frame, frame_of

KiB = 1024
MiB = 1024 * KiB
# The largest result: a 64 KiB message is 512 KiB of binary digits.
LARGEST = Frame("0" * 512 * KiB, 512 * KiB)
CREATED = datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC)


class GatedWebSocket:
    """Sends only while its gate is open, like a client that reads only when it wants."""

    def __init__(self, expected: int) -> None:
        self.gate = asyncio.Event()
        self.sending = asyncio.Event()
        self.sent: list[str] = []
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.sending.set()
        await self.gate.wait()
        self.sent.append(data)
        if len(self.sent) == self.expected:
            self.all_sent.set()


def client(max_bytes: int, max_frames: int = 1000) -> ClientConnection:
    return ClientConnection(BufferBudget(max_frames, max_bytes))


def test_the_frame_size_is_counted_in_utf8_bytes_not_characters() -> None:
    frame = frame_of(TaskProcessed("tâche-é", "01000001", CREATED, CREATED))

    assert frame.size == len(frame.text.encode())
    assert frame.size > len(frame.text)


def test_a_client_over_its_byte_budget_is_dropped_as_too_slow() -> None:
    registry = ClientRegistry()
    slow, fast = client(max_bytes=2 * MiB), client(max_bytes=64 * MiB)
    registry.add(slow)
    registry.add(fast)

    results = [registry.broadcast(LARGEST) for _ in range(5)]

    # Four 512 KiB frames fill 2 MiB exactly; the fifth would pass it. Far from 1000 frames.
    assert [r.dropped for r in results] == [[], [], [], [], [slow]]
    assert slow.drop_reason == TOO_SLOW
    assert fast.drop_reason is None and fast.budget.bytes == 5 * 512 * KiB
    assert list(registry.clients) == [fast]


def test_a_client_under_its_byte_budget_is_kept() -> None:
    registry = ClientRegistry()
    reader = client(max_bytes=2 * MiB)
    registry.add(reader)

    results = [registry.broadcast(LARGEST) for _ in range(4)]

    assert all(r.dropped == [] and r.delivered == 1 for r in results)
    assert reader.drop_reason is None
    assert (reader.budget.frames, reader.budget.bytes) == (4, 2 * MiB)


def test_the_frame_count_still_bounds_a_buffer_of_small_frames() -> None:
    budget = BufferBudget(max_frames=2, max_bytes=16 * MiB)
    small = Frame("{}", 2)

    assert [budget.admit(small) for _ in range(3)] == [True, True, False]
    assert (budget.frames, budget.bytes) == (2, 4)  # the refused frame charged nothing


def test_a_client_with_nothing_waiting_takes_a_frame_larger_than_its_budget() -> None:
    budget = BufferBudget(max_frames=1000, max_bytes=64 * KiB)

    assert budget.admit(LARGEST)  # not behind: nothing waits before it
    assert not budget.admit(Frame("{}", 2))  # now it is


async def test_bytes_are_released_once_a_frame_is_sent_not_when_it_is_taken() -> None:
    connection = client(max_bytes=2 * MiB)
    websocket = GatedWebSocket(expected=4)
    assert all(connection.offer(LARGEST) for _ in range(4))
    sender = asyncio.create_task(connection.send_frames(cast(WebSocket, websocket)))
    try:
        await asyncio.wait_for(websocket.sending.wait(), 5)

        # Taken but not yet sent: it still counts, so the buffer is still full.
        assert connection.budget.bytes == 2 * MiB
        assert not connection.offer(LARGEST)

        websocket.gate.set()
        await asyncio.wait_for(websocket.all_sent.wait(), 5)

        assert (connection.budget.frames, connection.budget.bytes) == (0, 0)
        assert all(connection.offer(LARGEST) for _ in range(4))
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
