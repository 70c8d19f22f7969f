"""One fault case in progress: WebSocket listeners, the fixed-rate load while the case
injects its fault, and the ledger settled when the load stops."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tests.faults.ledger import Pipeline, Row, settle
from tests.support.client import ResultFeed, result_feed
from tests.support.load import FixedRateLoad, graphql_sender


@contextlib.asynccontextmanager
async def listening(
    url: str, clients: int = 2, keep_codes: bool = True
) -> AsyncIterator[list[ResultFeed]]:
    """`clients` WebSocket connections, each collecting every frame it receives."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(result_feed(url, keep_codes)) for _ in range(clients)
        ]


@dataclass
class Trial:
    """One fault case in progress: its load, its listeners, and when the fault ended."""

    load: FixedRateLoad
    feeds: list[ResultFeed]
    healed_at: float | None = None
    row: Row | None = None
    also_accepted: dict[str, str] = field(default_factory=dict)

    def healed(self) -> None:
        self.healed_at = time.perf_counter()

    @property
    def settled(self) -> Row:
        """The ledger's row, once the load has stopped."""
        assert self.row is not None, "the ledger settles when the load stops"
        return self.row

    def save(self, slug: str, notes: str) -> None:
        """The case's row of the reliability table, with what the case saw."""
        self.settled.notes = notes
        self.settled.save(slug)


@contextlib.asynccontextmanager
async def under_load(
    pipeline: Pipeline,
    graphql_url: str,
    websocket_url: str,
    fault: str,
    *,
    dead_letters: int = 0,
    listeners: int = 2,
    keep_codes: bool = True,
    settle_seconds: float = 60,
    answer_seconds: float = 15.0,
    **load_options: Any,
) -> AsyncIterator[Trial]:
    """Listen, send a steady load while the block injects its fault, then stop the load
    and settle the ledger (into `trial.row`) while the listeners are still connected.
    Tasks the block stores itself go in `trial.also_accepted` (id -> message digest).
    A sendTask unanswered for `answer_seconds` counts as failed; `load_options` go to
    `FixedRateLoad` (rate, batch, message_chars)."""
    async with listening(websocket_url, listeners, keep_codes) as feeds:
        async with (
            graphql_sender(graphql_url, answer_seconds=answer_seconds) as send,
            FixedRateLoad(send, fault, **load_options) as load,
        ):
            trial = Trial(load, feeds)
            yield trial
        trial.row = await settle(
            pipeline,
            load,
            feeds,
            fault=fault,
            healed_at=trial.healed_at,
            dead_letters=dead_letters,
            seconds=settle_seconds,
            also_accepted=trial.also_accepted,
        )


def latency_figures(load: FixedRateLoad, feed: ResultFeed) -> dict[str, float]:
    """Median and p99 from a sendTask call's start to its result on `feed`, in ms."""
    latencies = [
        (feed.first_arrival[task] - r.started) * 1000
        for r in load.requests
        if r.outcome == "accepted"
        for task in r.task_ids
        if task in feed.first_arrival
    ]
    if len(latencies) < 2:
        return {}
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}
