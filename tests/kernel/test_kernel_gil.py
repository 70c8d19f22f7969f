"""Large inputs are converted with the GIL released: another Python thread keeps running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import binconv

MiB = 1 << 20


def ticks_during(convert: Callable[[], object]) -> tuple[float, list[float]]:
    """Runs `convert` while a second thread timestamps its own progress; returns the
    call's duration and the second thread's timestamps that fell inside the call."""
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            if count % 64 == 0:
                ticks.append(time.perf_counter())

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        while not ticks:
            time.sleep(0.001)
        start = time.perf_counter()
        convert()
        end = time.perf_counter()
    finally:
        stop.set()
        ticker.join()
    return end - start, [t for t in ticks if start < t < end]


def encode_ascii() -> Callable[[], object]:
    text = "a" * (64 * MiB)
    return lambda: binconv.encode(text)


def encode_mixed() -> Callable[[], object]:
    text = "é🙂" * (11 * MiB)  # 66 MiB of UTF-8
    return lambda: binconv.encode(text)


def encode_bytes() -> Callable[[], object]:
    data = b"\xff" * (64 * MiB)
    return lambda: binconv.encode_bytes(data)


def encode_many() -> Callable[[], object]:
    texts = ["a" * MiB] * 64
    return lambda: binconv.encode_many(texts)


def decode() -> Callable[[], object]:
    code = "01100001" * (8 * MiB)
    return lambda: binconv.decode(code)


@pytest.mark.parametrize(
    "make_call", [encode_ascii, encode_mixed, encode_bytes, encode_many, decode]
)
def test_another_thread_runs_while_64_mib_converts(
    make_call: Callable[[], Callable[[], object]],
) -> None:
    duration, inside = ticks_during(make_call())
    # Holding the GIL, the call would let the other thread in only before it starts
    # (one switch interval, 5 ms): its timestamps must instead span the call.
    name = make_call.__name__
    assert inside, f"{name}: no other thread ran during {duration * 1e3:.0f} ms"
    assert inside[-1] - inside[0] > 0.5 * duration, name
