"""Timing with a fresh input object per call, statistics from pytest-benchmark.

CPython caches a str's UTF-8 form once an extension has asked for it, which would make
every later call on the same object look faster; so each round times a loop over
distinct str objects, decoded from bytes outside the timed region.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from pytest_benchmark.stats import Stats

ROUND_SECONDS = 0.002  # aim for rounds at least this long (the clock's grain is ~50 ns)
MAX_FRESH_BYTES = 32 << 20  # fresh inputs alive at once
MAX_CALLS_PER_ROUND = 2000


def fresh_texts(data: bytes, count: int) -> list[str]:
    return [data.decode() for _ in range(count)]


def time_calls(call: Callable[[Any], object], args: list[Any]) -> float:
    """Nanoseconds per call of `call(a)` for `a` in `args`, results dropped at once."""
    start = time.perf_counter_ns()
    for arg in args:
        call(arg)
    return (time.perf_counter_ns() - start) / len(args)


def measure(
    call: Callable[[Any], object],
    make_args: Callable[[int], list[Any]],
    input_bytes: int,
    budget_seconds: float,
    min_rounds: int = 3,
) -> dict[str, Any]:
    """Per-call statistics (ns) over rounds of fresh arguments, within about a budget."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        once = time_calls(call, make_args(1))  # also warms up
        per_round = max(1, min(int(ROUND_SECONDS * 1e9 / max(once, 1.0)), MAX_CALLS_PER_ROUND))
        per_round = max(1, min(per_round, MAX_FRESH_BYTES // max(input_bytes, 1)))
        rounds = int(budget_seconds * 1e9 / max(once * per_round, 1.0))
        rounds = max(min_rounds, min(rounds, 200))
        stats = Stats()
        for _ in range(rounds):
            args = make_args(per_round)
            stats.update(time_calls(call, args))
            del args
    finally:
        if gc_was_enabled:
            gc.enable()
    result = {k: v for k, v in stats.as_dict().items() if k != "outliers"}
    result["calls_per_round"] = per_round
    return result
