"""Token buckets per caller: how much each caller may send, and how long it must wait.

One bucket per key (a token's `sub`, or a client address in open mode): it holds at
most `burst` tokens and gains `rate` a second; a request takes its cost or is refused
with the time until the cost is there. In one process, so several replicas each allow
a caller the full rate (the README's "Security" says so). No I/O here: the clock is
given, for the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Callers remembered at once; a caller idle long enough to have refilled its bucket is
# forgotten first (it would start full anyway), so memory stays bounded.
MAX_CALLERS = 100_000


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, as of when)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, cost: float = 1.0) -> float:
        """0.0 when `cost` tokens were taken from the key's bucket; otherwise the seconds
        until they will be there (nothing is taken). A cost over the burst takes the whole
        burst: a request as large as allowed passes once the bucket is full."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        cost = min(cost, self.burst)
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= cost:
            if key not in self._buckets and len(self._buckets) >= self._max_callers:
                self._forget_idle(now)
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[key]
        while len(self._buckets) >= self._max_callers:  # all busy: the oldest entry goes
            del self._buckets[next(iter(self._buckets))]

    @property
    def callers(self) -> int:
        """How many callers are remembered (not `__len__`: an empty one is still on)."""
        return len(self._buckets)
