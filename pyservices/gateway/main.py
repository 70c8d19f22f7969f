"""Composition root of the gateway: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle, tracing
from pyservices.gateway.bootstrap import build
from pyservices.gateway.settings import GatewaySettings


async def run(settings: GatewaySettings, stop: asyncio.Event) -> None:
    tracing.configure_tracing(
        "binconv-gateway", ("grpc_client",), follow_callers=settings.tracing_follow_callers
    )
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("gateway", GatewaySettings(), run)
