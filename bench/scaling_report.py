"""The scaling benchmark's table, from the saved result alone (bench/results/scaling.json)."""

from __future__ import annotations

from typing import Any


def table(result: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {workers} | {rate:,.0f} |" for workers, rate in result["tasks_per_second"].items()
    )
    return f"| worker processes | tasks/s end to end |\n| --- | --- |\n{rows}\n"


def markdown(result: dict[str, Any]) -> str:
    return (
        table(result)
        + f"\nReproducing: `just bench-scaling` ({result['tasks']} tasks in batches of 100 "
        "from 8 clients per row, each row on a fresh local stack, on the same 2-core machine "
        "that also runs PostgreSQL, RabbitMQ, the other services and the load generator).\n"
    )
