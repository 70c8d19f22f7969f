"""Benchmark of the conversion kernel: naive and best pure Python, NumPy, Rust, and the
memory-write limit, over ASCII and mixed text of 5 B to 1 MiB and a batch of messages.

    python -m bench.kernel            # run (~1 min), print, save JSON, render the docs
    python -m bench.kernel --render   # only render docs/benchmarks.md and README from the JSON
    python -m bench.kernel --against run.json  # measure, compare with a pytest-benchmark run
                                               # of tests/kernel/test_kernel_benchmarks.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

from bench import readme
from bench.kernel_methods import (
    BATCH_METHODS,
    COLUMNS,
    INPUTS,
    LIMIT,
    METHODS,
    KernelInput,
    fill_limit,
)
from bench.kernel_report import table, target_checks
from bench.kernel_timing import Case, measure, settle_allocator

__all__ = ["BATCH_METHODS", "METHODS", "fill_limit", "main", "run"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "kernel.json"
BUDGET_SECONDS = 0.6  # per method and input


def _measure_row(cases: dict[str, Case], input_bytes: int) -> dict[str, dict[str, Any]]:
    """Each Python method alone, then Rust and memset in alternate rounds: a slow spell
    of a shared machine then hits both sides of the "of limit" ratio alike. The Python
    methods are not interleaved with them, because their large temporary strings change
    what the allocator hands out next (fresh pages, which fault, or reused ones)."""
    paired = ("Rust", LIMIT)
    results = {}
    for name, case in cases.items():
        if name not in paired:
            results.update(measure({name: case}, input_bytes, BUDGET_SECONDS))
    results.update(measure({n: cases[n] for n in paired}, input_bytes, BUDGET_SECONDS))
    return {name: results[name] for name in cases}


def _row(given: KernelInput) -> dict[str, Any]:
    def fresh(column: str) -> Callable[[int], list[Any]]:
        return lambda k: [given.argument(column) for _ in range(k)]

    cases: dict[str, Case] = {column: (call, fresh(column)) for column, call in given.calls.items()}
    return {
        "input": given.name,
        "size": given.total_bytes,
        "label": given.label,
        "bytes": given.total_bytes,
        "methods": _measure_row(cases, given.total_bytes),
    }


def _machine() -> dict[str, Any]:
    info = pytest_benchmark_generate_machine_info()  # type: ignore[no-untyped-call]
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": info["cpu"].get("brand_raw", platform.processor()),
        "cores": info["cpu"].get("count"),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rustc": rustc.stdout.strip() or "rustc (unknown)",
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def run() -> dict[str, Any]:
    started = time.perf_counter()
    settle_allocator()
    rows = []
    for given in INPUTS:
        rows.append(_row(given))
        print(f"  measured {given.name} {given.label}", file=sys.stderr, flush=True)
    return {
        "command": "python -m bench.kernel",
        "datetime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "machine": _machine(),
        "seconds": time.perf_counter() - started,
        "unit": "nanoseconds per call",
        "rows": rows,
    }


def agreement(results: dict[str, Any], pytest_run: dict[str, Any]) -> str:
    """Per input and column, pytest-benchmark's median over bench.kernel's: as measured,
    and (in brackets) less pytest-benchmark's per-round overhead, which bench.kernel's loop
    of calls spreads over hundreds of calls."""
    medians: dict[tuple[str, str, str], float] = {}
    overhead = 0.0
    for bench in pytest_run["benchmarks"]:
        median_ns = bench["stats"]["median"] * 1e9
        info = bench["extra_info"]
        if "column" in info:
            medians[(info["input"], info["label"], info["column"])] = median_ns
        elif bench["name"] == "test_the_per_round_overhead":
            overhead = median_ns
    lines = [
        f"pytest-benchmark ÷ bench.kernel, median; (in brackets) less {overhead:.0f} ns "
        "of per-round overhead",
        "",
        "| input | size | " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * (2 + len(COLUMNS)),
    ]
    for row in results["rows"]:
        cells = [row["input"], row["label"]]
        for column in COLUMNS:
            ours = row["methods"][column]["median"]
            theirs = medians.get((row["input"], row["label"], column))
            cells.append(
                "—" if theirs is None else f"{theirs / ours:.2f} ({(theirs - overhead) / ours:.2f})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--render", action="store_true", help="only render the docs from the saved JSON"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="JSON",
        help="measure without saving, and compare with this pytest-benchmark run",
    )
    args = parser.parse_args(argv)
    if args.against:
        print(agreement(run(), json.loads(args.against.read_text())))
        return 0
    if args.render:
        results = json.loads(RESULTS.read_text())
    else:
        results = run()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    readme.main()  # docs/benchmarks.md and the README's summary, from the JSON
    print(table(results))
    print()
    for what, got, ok in target_checks(results):
        print(f"{'met   ' if ok else 'MISSED'}  {what}: {got}")
    print(f"\nsaved {RESULTS.relative_to(ROOT)}, rendered docs/benchmarks.md and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
