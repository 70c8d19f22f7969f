"""The pure-Python twin of the Rust kernel: same API, same results, same errors.

It is the oracle of the tests and the "best pure Python" of the benchmark, so it is
written the fastest way measured (bench/kernel.py compares it with the naive one-liner):
CPython's own big-integer formatting, `format(int.from_bytes(b), "b")`, turns all the
bytes into bits in C; a per-byte table joined with `"".join` is as fast only below about
8 bytes and five times slower from 1 KiB on.
"""

from __future__ import annotations

import re

__all__ = ["decode", "encode", "encode_bytes", "encode_many"]

_NOT_A_BIT = re.compile("[^01]")


def encode_bytes(data: bytes) -> str:
    """Eight '0'/'1' per byte, most significant bit first."""
    if not data:
        return ""
    return format(int.from_bytes(data, "big"), "b").zfill(8 * len(data))


def encode(text: str) -> str:
    """The binary code of the UTF-8 bytes of `text` (UnicodeEncodeError on surrogates)."""
    return encode_bytes(text.encode())


def encode_many(texts: list[str]) -> list[str]:
    return [encode_bytes(text.encode()) for text in texts]


def decode(code: str) -> str:
    """The text whose binary code is `code`; ValueError with the position and reason."""
    n = len(code)
    if code.count("0") + code.count("1") != n:
        found = _NOT_A_BIT.search(code)
        position = found.start() if found else 0
        raise ValueError(
            f"invalid character {code[position]!r} at position {position}: "
            "a binary code holds only '0' and '1'"
        )
    if n % 8:
        raise ValueError(
            f"binary code length {n} is not a multiple of 8: "
            f"the last byte, from position {n - n % 8}, has only {n % 8} bits"
        )
    data = int(code, 2).to_bytes(n // 8, "big") if n else b""
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        kind = (
            "truncated byte sequence"
            if error.reason == "unexpected end of data"
            else "invalid byte sequence"
        )
        raise ValueError(
            f"binary code is not UTF-8: {kind} at position {8 * error.start} (byte {error.start})"
        ) from None
