"""The ways to turn text into binary code that the kernel benchmark compares, and its inputs."""

from __future__ import annotations

from collections.abc import Callable

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

fill_limit: Callable[[int], str] = _binconv._fill_limit

SIZES = [5, 64, 1024, 64 * 1024, 1024 * 1024]
BATCH = (100, 40)  # messages, bytes each

_ASCII = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. "
# Starts with an emoji so every size, 5 B included, is a 4-byte-per-character str:
# the representation CPython picks for most real multilingual text with emoji.
_MIXED = "🙂 Grüße aus Köln, Привет мир, 你好世界, naïve café, Ελληνικά, ½ € ✓. "


def sample(kind: str, size: int) -> bytes:
    """UTF-8 bytes of `size` bytes of `kind` ("ascii" or "mixed") text."""
    corpus = (_ASCII if kind == "ascii" else _MIXED).encode()
    data = corpus * (size // len(corpus) + 1)
    cut = size
    while cut and (data[cut] & 0xC0) == 0x80:  # do not split a character
        cut -= 1
    return data[:cut] + b"." * (size - cut)
