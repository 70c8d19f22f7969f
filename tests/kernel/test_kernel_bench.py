"""`python -m bench.kernel` (the README's table) still runs, on the inputs and calls it
shares with the pytest-benchmark tests (test_kernel_benchmarks.py, which check that every
call gives the right code)."""

from __future__ import annotations

import pytest

from bench import kernel
from bench.kernel_methods import COLUMNS, INPUTS, KernelInput


def test_a_row_has_every_column_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "BUDGET_SECONDS", 0.001)
    row = kernel._row(KernelInput("mixed", 64))
    assert (row["input"], row["label"], row["bytes"]) == ("mixed", "64 B", 64)
    assert list(row["methods"]) == COLUMNS
    assert all(stats["median"] > 0 and stats["rounds"] >= 3 for stats in row["methods"].values())


def test_the_rows_are_the_tables_inputs_in_order() -> None:
    labels = [f"{given.name} {given.label}" for given in INPUTS]
    assert labels[0] == "ASCII 5 B" and labels[-1] == "batch 100 x 40 B"
    assert len(set(labels)) == len(labels) == 11


def test_agreement_divides_pytest_benchmarks_median_by_bench_kernels() -> None:
    methods = {column: {"median": 50} for column in COLUMNS}
    results = {"rows": [{"input": "ASCII", "label": "5 B", "methods": methods}]}
    pytest_run = {
        "benchmarks": [
            {
                "name": "test_kernel[ASCII-5B-rust]",
                "extra_info": {"input": "ASCII", "label": "5 B", "column": "Rust"},
                "stats": {"median": 150e-9},
            },
            {"name": "test_the_per_round_overhead", "extra_info": {}, "stats": {"median": 90e-9}},
        ]
    }
    text = kernel.agreement(results, pytest_run)
    assert "less 90 ns" in text
    assert "| ASCII | 5 B | — | — | — | 3.00 (1.20) | — |" in text
