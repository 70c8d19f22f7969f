"""Composition root of the relay: settings, wiring (`bootstrap`), lifecycle."""

from __future__ import annotations

import asyncio

from pyservices.common import lifecycle, tracing
from pyservices.publisher.bootstrap import build
from pyservices.publisher.settings import PublisherSettings


async def run(settings: PublisherSettings, stop: asyncio.Event) -> None:
    tracing.configure_tracing("binconv-relay", ("asyncpg",))
    await lifecycle.serve(build(settings), stop)


def main() -> None:
    lifecycle.run_service("publisher", PublisherSettings(), run)
