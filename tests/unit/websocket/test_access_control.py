"""Access control in the WebSocket service, with fakes: results by owner, the owners
followed, the connection caps and the handshake's token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from pyservices.common.auth import MISSING as HEADER_MISSING
from pyservices.common.auth import AuthFailed
from pyservices.common.events import TaskProcessed
from pyservices.websocket.adapters.handshake import (
    MISSING,
    SUBPROTOCOL,
    chosen_subprotocol,
    offered_token,
)
from pyservices.websocket.domain import (
    BROKER_UNAVAILABLE,
    CALLER_FULL,
    POLICY_VIOLATION,
    SERVER_FULL,
    TRY_AGAIN_LATER,
    ClientRegistry,
    ConnectionLimits,
    Frame,
    Refusal,
)
from pyservices.websocket.usecases import ClientConnections, push_processed_task
from tests.unit.websocket.websocket_fakes import FakeClient, FakeProcessedEvents

NOW = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)
FRAME = Frame("{}", 2)


def result(task_id: str, owner: str | None) -> bytes:
    return TaskProcessed(task_id, "01000001", NOW, NOW, owner=owner).to_json()


def ids(client: FakeClient) -> list[str]:
    return [orjson.loads(frame)["id"] for frame in client.frames]


def connections(
    per_caller: int = 100, total: int = 1000, *, reachable: bool = True
) -> tuple[ClientConnections, FakeProcessedEvents]:
    registry = ClientRegistry(by_owner=True)
    events = FakeProcessedEvents(lambda body: None, by_owner=True, reachable=reachable)
    return ClientConnections(registry, ConnectionLimits(per_caller, total), events), events


class TestResultsByOwner:
    def test_a_result_reaches_only_its_owners_clients(self) -> None:
        registry = ClientRegistry(by_owner=True)
        alice, alice_too, bob = FakeClient(), FakeClient(), FakeClient()
        registry.add(alice, "alice")
        registry.add(alice_too, "alice")
        registry.add(bob, "bob")

        push_processed_task(result("a1", "alice"), registry)
        push_processed_task(result("b1", "bob"), registry)
        push_processed_task(result("c1", "carol"), registry)

        assert ids(alice) == ids(alice_too) == ["a1"]
        assert ids(bob) == ["b1"]

    def test_a_result_of_no_owner_reaches_no_one_when_routed_by_owner(self) -> None:
        registry = ClientRegistry(by_owner=True)
        alice = FakeClient()
        registry.add(alice, "alice")

        fan_out = push_processed_task(result("open", None), registry)

        assert fan_out is not None and fan_out.delivered == 0
        assert alice.frames == []

    def test_in_open_mode_every_client_gets_every_result_whatever_its_owner(self) -> None:
        registry = ClientRegistry()
        first, second = FakeClient(), FakeClient()
        registry.add(first)
        registry.add(second)

        push_processed_task(result("a1", "alice"), registry)
        push_processed_task(result("n1", None), registry)

        assert ids(first) == ids(second) == ["a1", "n1"]

    def test_the_frame_does_not_carry_the_owner(self) -> None:
        registry = ClientRegistry(by_owner=True)
        alice = FakeClient()
        registry.add(alice, "alice")

        push_processed_task(result("a1", "alice"), registry)

        assert set(orjson.loads(alice.frames[0])) == {
            "id",
            "binaryCode",
            "createdAt",
            "processedAt",
        }

    def test_a_slow_client_is_dropped_and_its_owners_other_client_keeps_receiving(self) -> None:
        registry = ClientRegistry(by_owner=True)
        slow, fast = FakeClient(capacity=1), FakeClient()
        registry.add(slow, "alice")
        registry.add(fast, "alice")

        fan_outs = [registry.broadcast(FRAME, "alice") for _ in range(3)]

        assert [f.dropped for f in fan_outs] == [[], [slow], []]
        assert len(fast.frames) == 3 and list(registry.clients) == [fast]

    def test_removing_the_last_client_of_an_owner_forgets_the_owner(self) -> None:
        registry = ClientRegistry(by_owner=True)
        alice = FakeClient()
        registry.add(alice, "alice")
        registry.remove(alice)
        registry.remove(alice)

        assert registry.broadcast(FRAME, "alice").delivered == 0
        assert len(registry) == 0


class TestOwnersFollowed:
    async def test_an_owner_is_followed_at_its_first_client_and_unfollowed_after_its_last(
        self,
    ) -> None:
        clients, events = connections()
        first, second, bob = FakeClient(), FakeClient(), FakeClient()

        assert await clients.open(first, "alice", "alice") is None
        assert await clients.open(second, "alice", "alice") is None
        assert await clients.open(bob, "bob", "bob") is None
        await clients.close(first, "alice", "alice")
        assert events.followed == {"alice", "bob"}
        await clients.close(second, "alice", "alice")

        assert events.follows == ["+alice", "+bob", "-alice"]
        assert events.followed == {"bob"}
        assert list(clients.registry.clients) == [bob]

    async def test_clients_coming_and_going_at_once_leave_the_owner_followed_iff_one_stays(
        self,
    ) -> None:
        clients, events = connections()
        staying, leaving, late = FakeClient(), FakeClient(), FakeClient()
        await clients.open(leaving, "alice", "alice")

        # The last client leaves while two more arrive: each waits for the one before.
        await asyncio.gather(
            clients.close(leaving, "alice", "alice"),
            clients.open(staying, "alice", "alice"),
            clients.open(late, "alice", "alice"),
        )
        assert events.followed == {"alice"}
        await asyncio.gather(clients.close(late, "alice", "alice"))
        assert events.followed == {"alice"}
        await clients.close(staying, "alice", "alice")

        assert events.followed == set()
        assert events.follows[-1] == "-alice"

    async def test_a_client_whose_owner_cannot_be_followed_is_refused_and_counts_nothing(
        self,
    ) -> None:
        clients, events = connections(per_caller=1, reachable=False)
        client = FakeClient()

        refusal = await clients.open(client, "alice", "alice")

        assert refusal == Refusal(TRY_AGAIN_LATER, BROKER_UNAVAILABLE)
        assert len(clients.registry) == 0 and clients.limits.held("alice") == 0
        events.reachable = True
        assert await clients.open(FakeClient(), "alice", "alice") is None

    async def test_a_client_cancelled_while_its_owner_is_followed_counts_nothing(
        self,
    ) -> None:
        clients, events = connections(per_caller=1)
        follow = events.follow
        started = asyncio.Event()

        async def slow_follow(owner: str) -> None:
            started.set()
            await asyncio.sleep(3600)  # the broker takes its time; a shutdown comes first
            await follow(owner)

        events.follow = slow_follow  # type: ignore[method-assign]
        opening = asyncio.create_task(clients.open(FakeClient(), "alice", "alice"))
        await started.wait()
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening

        assert len(clients.registry) == 0 and clients.limits.held("alice") == 0
        events.follow = follow  # type: ignore[method-assign]
        assert await clients.open(FakeClient(), "alice", "alice") is None

    async def test_in_open_mode_no_owner_is_followed(self) -> None:
        events = FakeProcessedEvents(lambda body: None)
        clients = ClientConnections(ClientRegistry(), ConnectionLimits(10, 10), events)
        client = FakeClient()

        assert await clients.open(client, "127.0.0.1", None) is None
        await clients.close(client, "127.0.0.1", None)

        assert events.follows == []

    def test_routing_by_owner_needs_the_events(self) -> None:
        with pytest.raises(ValueError, match="follow"):
            ClientConnections(ClientRegistry(by_owner=True), ConnectionLimits(1, 1))


class TestConnectionCaps:
    def test_a_caller_over_its_cap_is_refused_and_others_are_not(self) -> None:
        limits = ConnectionLimits(per_caller=2, total=10)

        assert [limits.admit("alice") for _ in range(2)] == [None, None]
        refusal = limits.admit("alice")
        assert refusal is not None and refusal.code == POLICY_VIOLATION
        assert refusal.reason == f"{CALLER_FULL} (at most 2)"
        assert limits.admit("bob") is None
        assert limits.held("alice") == 2

    def test_the_total_cap_refuses_anyone_once_reached(self) -> None:
        limits = ConnectionLimits(per_caller=5, total=3)
        for caller in ("alice", "bob", "carol"):
            assert limits.admit(caller) is None

        assert limits.admit("dave") == Refusal(TRY_AGAIN_LATER, SERVER_FULL)

        limits.release("bob")
        assert limits.admit("dave") is None

    def test_a_released_connection_makes_room_again(self) -> None:
        limits = ConnectionLimits(per_caller=1, total=10)
        assert limits.admit("alice") is None
        limits.release("alice")

        assert limits.admit("alice") is None
        assert limits.held("alice") == 1

    async def test_a_refused_client_is_not_registered_and_its_owner_not_followed(self) -> None:
        clients, events = connections(per_caller=1)
        first, extra = FakeClient(), FakeClient()
        await clients.open(first, "alice", "alice")

        refusal = await clients.open(extra, "alice", "alice")

        assert refusal is not None and refusal.code == POLICY_VIOLATION
        assert list(clients.registry.clients) == [first]
        assert events.follows == ["+alice"]


class TestHandshakeToken:
    def test_the_authorization_header_comes_first(self) -> None:
        assert offered_token("Bearer abc.def.ghi", ["binconv.v1", "bearer.other"]) == "abc.def.ghi"

    def test_a_browser_sends_it_as_a_subprotocol(self) -> None:
        assert offered_token(None, [SUBPROTOCOL, "bearer.abc.def.ghi"]) == "abc.def.ghi"

    def test_neither_is_missing_and_says_how_to_send_one(self) -> None:
        for offered in ([], [SUBPROTOCOL], ["bearer."]):
            with pytest.raises(AuthFailed) as failed:
                offered_token(None, offered)
            assert str(failed.value) == MISSING

    def test_a_header_that_is_not_a_bearer_token_is_refused(self) -> None:
        with pytest.raises(AuthFailed) as failed:
            offered_token("Basic dXNlcjpwYXNz", [])
        assert str(failed.value) != HEADER_MISSING

    def test_the_server_answers_with_its_subprotocol_never_the_token(self) -> None:
        assert chosen_subprotocol([SUBPROTOCOL, "bearer.abc"]) == SUBPROTOCOL
        assert chosen_subprotocol(["bearer.abc"]) is None
        assert chosen_subprotocol([]) is None
