"""Composition root of the WebSocket service: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle
from pyservices.websocket.bootstrap import build
from pyservices.websocket.settings import WebSocketSettings


async def run(settings: WebSocketSettings, stop: asyncio.Event) -> None:
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("websocket", WebSocketSettings(), run)
