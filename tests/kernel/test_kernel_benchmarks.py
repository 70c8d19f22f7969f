"""The kernel benchmark as pytest-benchmark runs it: one group per input, each with the
naive one-liner, the best pure Python, NumPy, Rust and the memory-write limit side by side.

    pytest tests/kernel/test_kernel_benchmarks.py --benchmark-only    # measure (~1 min)
    just bench-compare                  # measure, save, compare with the last saved run

In a plain test run (no --benchmark-only, -enable, -save, -autosave, -json, -compare or
-histogram) each call runs once, as a correctness check. The README's table comes from
`python -m bench.kernel`, which times the same calls on the same inputs
(bench/kernel_methods.py) and agrees within noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.kernel_methods import COLUMNS, INPUTS, KernelInput
from bench.kernel_timing import settle_allocator

MAX_ROUNDS = 20_000  # enough for 5 B calls; more only adds pytest-benchmark's own overhead
MEASURING_OPTIONS = (
    "benchmark_only",
    "benchmark_enable",
    "benchmark_save",
    "benchmark_autosave",
    "benchmark_json",
    "benchmark_compare",
    "benchmark_histogram",
)


@pytest.fixture
def kernel_benchmark(benchmark: BenchmarkFixture, request: pytest.FixtureRequest) -> Any:
    if not any(request.config.getoption(option) for option in MEASURING_OPTIONS):
        benchmark.disabled = True  # pedantic() then calls the target once, untimed
    return benchmark


@pytest.fixture(scope="module", autouse=True)
def _steady_allocator() -> None:
    settle_allocator()  # as bench.kernel does, so both measure the same malloc state


def _dropping(call: Callable[[Any], object]) -> Callable[[Any], None]:
    """The result freed inside the timed call, as bench.kernel does: an 8 MiB result kept
    alive into the next round would make its allocation fault in fresh pages."""

    def run(argument: Any) -> None:
        call(argument)

    return run


def _seconds_per_call(call: Callable[[Any], object], given: KernelInput, column: str) -> float:
    """The fastest of a few warm calls (a first call can be many times slower: page
    faults, cold caches), to size the rounds to --benchmark-max-time."""
    best = float("inf")
    for _ in range(3):
        argument = given.argument(column)
        started = time.perf_counter()
        call(argument)
        best = min(best, time.perf_counter() - started)
        if best > 0.05:
            break
    return best


def _rounds(config: pytest.Config, seconds_per_call: float) -> int:
    max_time = float(config.getoption("benchmark_max_time"))
    min_rounds = int(config.getoption("benchmark_min_rounds"))
    return max(min_rounds, min(MAX_ROUNDS, int(max_time / max(seconds_per_call, 1e-9))))


def _column_id(column: str) -> str:
    return column.lower().replace(" ", "-")


def _input_id(given: KernelInput) -> str:
    return f"{given.name}-{given.label}".replace(" ", "")


@pytest.mark.benchmark(disable_gc=True)  # as bench.kernel: no collection inside a call
@pytest.mark.parametrize("column", COLUMNS, ids=_column_id)
@pytest.mark.parametrize("given", INPUTS, ids=_input_id)
def test_kernel(
    kernel_benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    given: KernelInput,
    column: str,
) -> None:
    benchmark = kernel_benchmark
    benchmark.group = f"{given.name} {given.label}"
    benchmark.extra_info.update(input=given.name, label=given.label, column=column)
    call = given.calls[column]

    def fresh() -> tuple[tuple[Any], dict[str, Any]]:
        return (given.argument(column),), {}

    if benchmark.disabled:
        result = benchmark.pedantic(call, setup=fresh)  # type: ignore[no-untyped-call]
    else:
        result = call(given.argument(column))  # checked below; also warms up
        rounds = _rounds(request.config, _seconds_per_call(call, given, column))
        warmup = min(rounds // 10, 100)
        benchmark.pedantic(  # type: ignore[no-untyped-call]
            _dropping(call), setup=fresh, rounds=rounds, warmup_rounds=warmup
        )
    assert result == given.expected(column)


@pytest.mark.benchmark(disable_gc=True)
def test_the_per_round_overhead(
    kernel_benchmark: BenchmarkFixture, request: pytest.FixtureRequest
) -> None:
    """A call that does nothing, timed like the others: what pytest-benchmark adds to
    every round (its timer and the call through the wrapper), to subtract from the
    5 B and 64 B figures when comparing them with bench.kernel's loops of calls."""
    kernel_benchmark.group = "per-round overhead"
    rounds = _rounds(request.config, 1e-7)
    kernel_benchmark.pedantic(  # type: ignore[no-untyped-call]
        _dropping(len), setup=lambda: (("x",), {}), rounds=rounds, warmup_rounds=100
    )
