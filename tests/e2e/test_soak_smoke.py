"""The load generator (tests/support/load.py, the soak's and the fault suite's) keeps its
schedule whatever the responses, and a very short soak on its own fresh stack loses
nothing and reports every window and process."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from bench import soak
from devstack.stack import SERVICES
from tests.support.load import FixedRateLoad

RATE, BATCH = 1000, 10  # a request every 10 ms
REQUESTS = 5
SECONDS = REQUESTS * BATCH / RATE


class HeldAnswers:
    """A sendTask that answers nothing until the test lets it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self._ids = itertools.count()

    async def send(self, messages: list[str]) -> list[str]:
        await self.release.wait()
        return [str(next(self._ids)) for _ in messages]


async def test_the_schedule_never_waits_for_an_answer() -> None:
    held = HeldAnswers()
    load = FixedRateLoad(held.send, "held", rate=RATE, batch=BATCH, max_in_flight=10)

    open_requests = await load.dispatch(SECONDS)

    assert len(load.requests) == len(open_requests) == REQUESTS
    assert load.skipped == []
    held.release.set()
    await asyncio.gather(*open_requests)
    assert len(load.accepted()) == REQUESTS * BATCH


async def test_a_request_due_while_the_cap_is_open_is_skipped_and_counted() -> None:
    held = HeldAnswers()
    capped = FixedRateLoad(held.send, "held", rate=RATE, batch=BATCH, max_in_flight=2)

    open_requests = await capped.dispatch(SECONDS)

    assert len(capped.requests) == 2
    assert capped.skipped == [k * capped.interval for k in range(2, REQUESTS)]
    held.release.set()
    await asyncio.gather(*open_requests)


@pytest.mark.e2e
def test_a_short_soak_loses_nothing_and_reports_every_window_and_process(
    tmp_path: Path,
) -> None:
    options = {
        "--rate": "50",
        "--seconds": "3",
        "--window": "1",
        "--warmup": "1",
        "--drain-seconds": "20",
    }
    committed = soak.ROOT / "bench" / "results" / "soak.json"
    before = committed.read_bytes() if committed.exists() else None

    soak.main([*itertools.chain(*options.items()), "--output-dir", str(tmp_path)])

    assert (committed.read_bytes() if committed.exists() else None) == before

    result = json.loads((tmp_path / "soak.json").read_text())
    totals = result["totals"]
    assert totals["requests_due"] == 15 and totals["requests_failed"] == 0
    assert totals["tasks_sent"] == totals["tasks_arrived"] == 150
    assert totals["lost"] == totals["warmup_lost"] == totals["wrong_codes"] == 0
    windows = result["windows"]
    assert [(w["from_s"], w["to_s"]) for w in windows[:3]] == [(0, 1), (1, 2), (2, 3)]
    assert sum(w.get("tasks_sent", 0) for w in windows) == 150
    assert sum(w["tasks_completed"] for w in windows) == 150
    assert all(0 < w["p50_ms"] <= w["p99_ms"] for w in windows[:3])
    samples = [w["memory_kib"] for w in windows[:3]]
    for memory in [result["memory_kib"]["start"], *samples, result["memory_kib"]["end"]]:
        assert set(memory) == {*SERVICES, "postgresql", "rabbitmq"}
        assert all(kinds["rss"] > 0 and kinds["pss"] > 0 for kinds in memory.values())
        assert memory["rabbitmq"]["pss"] > 20 * 1024  # beam.smp, a child of the server script
    doc = (tmp_path / "bench-soak.md").read_text()
    assert "| 2-3 s | 50 |" in doc
    assert "Reproducing: `just bench-soak --rate 50 --seconds 3 --batch 10`" in doc
