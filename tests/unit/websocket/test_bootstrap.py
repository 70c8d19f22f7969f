"""The WebSocket service as bootstrap wires it, with fake processed events."""

from __future__ import annotations

from pyservices.common.ops import run_checks
from pyservices.websocket.bootstrap import build
from pyservices.websocket.domain import ClientRegistry
from pyservices.websocket.settings import WebSocketSettings
from pyservices.websocket.usecases import push_processed_task
from tests.unit.websocket.websocket_fakes import FakeProcessedEvents


async def test_health_is_the_event_sources_ping() -> None:
    registry = ClientRegistry()
    events = FakeProcessedEvents(lambda body: push_processed_task(body, registry))
    service = build(WebSocketSettings(), events=events, registry=registry)

    assert await run_checks(service.checks) == (False, {"broker": "down"})  # not started
    await events.start()
    assert await run_checks(service.checks) == (True, {"broker": "ok"})
    await events.stop()
    assert await run_checks(service.checks) == (False, {"broker": "down"})
