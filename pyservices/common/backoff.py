"""How long to wait before the next try after consecutive failures (every reconnect loop)."""

from __future__ import annotations


def backoff_delay(attempt: int, initial: float = 0.05, cap: float = 5.0) -> float:
    """Exponential backoff for the `attempt`-th consecutive failure (1-based), capped."""
    return float(min(cap, initial * 2 ** max(0, attempt - 1)))
