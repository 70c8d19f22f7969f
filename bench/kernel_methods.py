"""The ways to turn text into binary code that the kernel benchmark compares, and its
inputs: shared by `python -m bench.kernel` (the README's table) and the pytest-benchmark
tests (tests/kernel/test_kernel_benchmarks.py), so both time the same calls on the same
data."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import binconv
from binconv import _binconv, reference


def naive(text: str) -> str:
    """The one-liner most people write first."""
    return "".join(format(b, "08b") for b in text.encode())


def numpy_unpackbits(text: str) -> str:
    """What a Python user reaches for next: NumPy's unpackbits, then '0' + bit in place."""
    bits = np.unpackbits(np.frombuffer(text.encode(), dtype=np.uint8))
    bits += ord("0")
    return str(bits.data, "ascii")


# Name -> one call on one text. Order is the table's column order.
METHODS: dict[str, Callable[[str], str]] = {
    "naive": naive,
    "pure Python": reference.encode,
    "NumPy": numpy_unpackbits,
    "Rust": binconv.encode,
}

# The batch row: 100 messages through one call (Rust) or a comprehension (the others).
BATCH_METHODS: dict[str, Callable[[list[str]], list[str]]] = {
    "naive": lambda texts: [naive(t) for t in texts],
    "pure Python": reference.encode_many,
    "NumPy": lambda texts: [numpy_unpackbits(t) for t in texts],
    "Rust": binconv.encode_many,
}

# Writes n '0's into a new str: the memory-write bound of any encoder of n output chars.
fill_limit: Callable[[int], str] = _binconv._fill_limit

LIMIT = "limit"
COLUMNS = [*METHODS, LIMIT]
SIZES = [5, 64, 1024, 64 * 1024, 1024 * 1024]
BATCH = (100, 40)  # messages, bytes each

_ASCII = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. "
# Starts with an emoji so every size, 5 B included, is a 4-byte-per-character str:
# the representation CPython picks for most real multilingual text with emoji.
_MIXED = "🙂 Grüße aus Köln, Привет мир, 你好世界, naïve café, Ελληνικά, ½ € ✓. "


@functools.cache
def sample(kind: str, size: int) -> bytes:
    """UTF-8 bytes of `size` bytes of `kind` ("ascii" or "mixed") text."""
    corpus = (_ASCII if kind == "ascii" else _MIXED).encode()
    data = corpus * (size // len(corpus) + 1)
    cut = size
    while cut and (data[cut] & 0xC0) == 0x80:  # do not split a character
        cut -= 1
    return data[:cut] + b"." * (size - cut)


def _size_label(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size >> 10} KiB" if size < 1 << 20 else "1 MiB"


@dataclass(frozen=True)
class KernelInput:
    """One row of the table: one text of `size` UTF-8 bytes, or a batch of `count`."""

    kind: str  # "ascii" or "mixed"
    size: int  # bytes per text
    count: int = 0  # texts in one call; 0: a single text

    @property
    def name(self) -> str:
        return "batch" if self.count else "ASCII" if self.kind == "ascii" else "mixed"

    @property
    def label(self) -> str:
        return f"{self.count} x {self.size} B" if self.count else _size_label(self.size)

    @property
    def total_bytes(self) -> int:
        return self.size * max(self.count, 1)

    @property
    def calls(self) -> dict[str, Callable[[Any], object]]:
        """Column -> the call timed; the limit writes the output size of the whole row."""
        calls: dict[str, Callable[[Any], object]] = dict(BATCH_METHODS if self.count else METHODS)
        if self.count:
            count = self.count
            calls[LIMIT] = lambda n: [fill_limit(n) for _ in range(count)]
        else:
            calls[LIMIT] = fill_limit
        return calls

    def argument(self, column: str) -> Any:
        """A fresh argument for one call. CPython keeps a str's UTF-8 form once an
        extension asked for it, so every call gets new str objects, decoded from bytes."""
        if column == LIMIT:
            return 8 * self.size
        data = sample(self.kind, self.size)
        if self.count:
            return [data.decode() for _ in range(self.count)]
        return data.decode()

    def expected(self, column: str) -> object:
        """What `calls[column]` returns: the code of the text (or batch), or the '0's."""
        if column == LIMIT:
            zeros = "0" * 8 * self.size
            return [zeros] * self.count if self.count else zeros
        code = reference.encode_bytes(sample(self.kind, self.size))
        return [code] * self.count if self.count else code


INPUTS = [KernelInput(kind, size) for kind in ("ascii", "mixed") for size in SIZES]
INPUTS.append(KernelInput("mixed", BATCH[1], BATCH[0]))
