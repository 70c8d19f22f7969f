"""The token buckets: a burst, then the rate; callers apart; bounded memory."""

from __future__ import annotations

import pytest

from pyservices.gateway.limits import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_caller_may_spend_its_burst_at_once_then_waits_for_the_rate(clock: Clock) -> None:
    buckets = TokenBuckets(rate=10, burst=5, clock=clock)

    assert [buckets.take("a") for _ in range(5)] == [0.0] * 5
    assert buckets.take("a") == pytest.approx(0.1)  # one token comes in 1/10 s
    clock.now += 0.1
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_a_refusal_takes_nothing(clock: Clock) -> None:
    buckets = TokenBuckets(rate=10, burst=10, clock=clock)
    buckets.take("a", 8)

    assert buckets.take("a", 5) == pytest.approx(0.3)
    assert buckets.take("a", 2) == 0.0


def test_callers_have_buckets_of_their_own(clock: Clock) -> None:
    buckets = TokenBuckets(rate=1, burst=2, clock=clock)
    buckets.take("a", 2)

    assert buckets.take("a") > 0
    assert buckets.take("b", 2) == 0.0


def test_the_bucket_never_fills_over_its_burst(clock: Clock) -> None:
    buckets = TokenBuckets(rate=100, burst=3, clock=clock)
    clock.now += 3600

    assert [buckets.take("a") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_a_cost_over_the_burst_takes_a_full_bucket(clock: Clock) -> None:
    buckets = TokenBuckets(rate=100, burst=50, clock=clock)

    assert buckets.take("a", 1000) == 0.0  # one maximum request passes once
    assert buckets.take("a", 1000) == pytest.approx(0.5)


def test_a_rate_of_zero_is_no_limit(clock: Clock) -> None:
    buckets = TokenBuckets(rate=0, burst=0, clock=clock)

    assert not buckets.enabled
    assert all(buckets.take("a", 10**6) == 0.0 for _ in range(100))
    assert buckets.callers == 0


def test_idle_callers_are_forgotten_first_so_memory_is_bounded(clock: Clock) -> None:
    buckets = TokenBuckets(rate=1, burst=1, clock=clock, max_callers=3)
    buckets.take("idle")
    clock.now += 10  # "idle" is full again
    buckets.take("busy1")
    buckets.take("busy2")

    buckets.take("new")

    assert buckets.callers == 3
    assert buckets.take("busy1") > 0  # still remembered as spent
    for n in range(10):
        buckets.take(f"more{n}")
    assert buckets.callers <= 3
