"""The gateway as bootstrap wires it, with a fake task service."""

from __future__ import annotations

from pyservices.common.ops import run_checks
from pyservices.gateway.bootstrap import build
from pyservices.gateway.domain import TaskServiceUnavailable
from pyservices.gateway.settings import GatewaySettings
from tests.unit.gateway.gateway_fakes import FakeTaskService


async def test_health_asks_the_injected_task_service_and_nothing_else_is_opened() -> None:
    task_service = FakeTaskService()
    gateway = build(GatewaySettings(), task_service=task_service)

    assert await run_checks(gateway.checks) == (True, {"task_service": "ok"})
    task_service.fail_with = TaskServiceUnavailable("down")
    assert await run_checks(gateway.checks) == (
        False,
        {"task_service": "down: TaskServiceUnavailable"},
    )
    assert gateway.closing() == []  # no channel of its own to close
