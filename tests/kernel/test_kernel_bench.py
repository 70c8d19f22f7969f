"""The kernel benchmark still runs: every method it compares gives the same code."""

from __future__ import annotations

from bench import kernel
from bench.kernel_methods import sample


def test_every_benchmarked_method_agrees_on_a_small_input() -> None:
    for kind in ("ascii", "mixed"):
        text = sample(kind, 64).decode()
        codes = {name: method(text) for name, method in kernel.METHODS.items()}
        assert len(set(codes.values())) == 1, codes


def test_every_batch_method_agrees() -> None:
    batch = [sample("mixed", 40).decode()] * 3
    codes = {name: tuple(method(batch)) for name, method in kernel.BATCH_METHODS.items()}
    assert len(set(codes.values())) == 1


def test_the_limit_writes_the_output_size() -> None:
    assert kernel.fill_limit(24) == "0" * 24
