"""Timing with a fresh input object per call, statistics from pytest-benchmark.

CPython caches a str's UTF-8 form once an extension has asked for it, which would make
every later call on the same object look faster; so each round times a loop over
distinct str objects, decoded from bytes outside the timed region
(`KernelInput.argument`).
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


def settle_allocator() -> None:
    """Puts malloc in the state of a process that has run for a while. glibc serves each
    block above its mmap threshold (128 KiB at start) with new pages, which fault on first
    write, until it frees one such block, which raises the threshold to that block's size.
    A running worker is past that point, and so was a benchmark once it had done a 1 MiB
    row: measured before it, the 64 KiB rows looked 2-8x slower. Other allocators ignore it."""
    block = bytearray(16 << 20)
    del block


def time_calls(call: Callable[[Any], object], args: list[Any]) -> float:
    """Nanoseconds per call of `call(a)` for `a` in `args`, results dropped at once."""
    start = time.perf_counter_ns()
    for arg in args:
        call(arg)
    return (time.perf_counter_ns() - start) / len(args)


Case = tuple[Callable[[Any], object], Callable[[int], list[Any]]]  # call, make_args


def measure(
    cases: dict[str, Case], input_bytes: int, budget_seconds: float, min_rounds: int = 3
) -> dict[str, dict[str, Any]]:
    """Per-call statistics (ns) of each case over rounds of fresh arguments, about
    `budget_seconds` each. Rounds of the cases alternate, so a slow spell of a shared
    machine hits them alike and their ratios (Rust against memset) stay fair."""
    plans = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name, (call, make_args) in cases.items():
            once = time_calls(call, make_args(1))  # also warms up
            per_round = int(ROUND_SECONDS * 1e9 / max(once, 1.0))
            per_round = min(per_round, MAX_CALLS_PER_ROUND, MAX_FRESH_BYTES // max(input_bytes, 1))
            per_round = max(1, per_round)
            rounds = int(budget_seconds * 1e9 / max(once * per_round, 1.0))
            plans[name] = (per_round, max(min_rounds, min(rounds, 200)))
        stats = {name: Stats() for name in cases}  # type: ignore[no-untyped-call]
        for round_ in range(max(rounds for _, rounds in plans.values())):
            for name, (call, make_args) in cases.items():
                per_round, rounds = plans[name]
                if round_ < rounds:
                    args = make_args(per_round)
                    stats[name].update(time_calls(call, args))  # type: ignore[no-untyped-call]
                    del args
    finally:
        if gc_was_enabled:
            gc.enable()
    results = {}
    for name, stat in stats.items():
        summary = stat.as_dict()  # type: ignore[no-untyped-call]
        results[name] = {k: v for k, v in summary.items() if k != "outliers"}
        results[name]["calls_per_round"] = plans[name][0]
    return results
