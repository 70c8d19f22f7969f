"""The relay as bootstrap wires it, with fakes at every port, run by the lifecycle."""

from __future__ import annotations

import asyncio

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.common.ops import run_checks
from pyservices.publisher.bootstrap import PublisherProcess, build
from pyservices.publisher.settings import PublisherSettings
from tests.unit.publisher.relay_fakes import FakeOutbox, FakePublisher, FakeWakeups, event


def wired() -> tuple[PublisherProcess, FakeOutbox, FakePublisher, FakeWakeups]:
    store, publisher, wakeups = FakeOutbox([event(1), event(2)]), FakePublisher(), FakeWakeups()
    # A fallback poll longer than any test: only the injected wakeups can wake the relay.
    settings = PublisherSettings(
        metrics_port=free_port(), shutdown_grace_seconds=1, outbox_fallback_poll_seconds=60
    )
    relay = build(settings, store=store, publisher=publisher, wakeups=wakeups)
    return relay, store, publisher, wakeups


async def test_relays_the_outbox_through_the_injected_ports_and_stops() -> None:
    relay, store, publisher, _ = wired()
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(relay, stop))

    arrived = [await asyncio.wait_for(publisher.arrived.get(), 5) for _ in range(2)]
    assert [e.id for e in arrived] == [1, 2]
    assert await run_checks(relay.checks) == (True, {"database": "ok", "broker": "ok"})

    stop.set()
    await asyncio.wait_for(running, 5)
    assert store.rows == {}
    assert relay.closing() == []  # injected adapters are the caller's to close


async def test_health_names_each_failing_port_and_a_blocked_broker() -> None:
    relay, store, publisher, wakeups = wired()
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(relay, stop))

    publisher.block()
    assert await run_checks(relay.checks) == (
        False,
        {"database": "ok", "broker": "down: BrokerBlocked"},
    )
    publisher.unblock()
    wakeups.reachable = False
    await until_pinged(wakeups, False)
    assert (await run_checks(relay.checks))[1] == {"database": "down", "broker": "ok"}
    wakeups.reachable, store.reachable = True, False
    await until_pinged(wakeups, True)
    assert (await run_checks(relay.checks))[1] == {"database": "down", "broker": "ok"}

    stop.set()
    await asyncio.wait_for(running, 5)


async def test_a_row_announced_by_the_injected_wakeups_is_relayed_at_once() -> None:
    relay, store, publisher, wakeups = wired()
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(relay, stop))
    for _ in range(2):
        await asyncio.wait_for(publisher.arrived.get(), 5)

    await until_pinged(wakeups, True)
    store.add(event(3))
    wakeups.notify()
    assert (await asyncio.wait_for(publisher.arrived.get(), 5)).id == 3

    stop.set()
    await asyncio.wait_for(running, 5)


async def until_pinged(wakeups: FakeWakeups, answer: bool) -> None:
    for _ in range(500):
        if await wakeups.ping() is answer:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"wakeups.ping() never answered {answer}")
