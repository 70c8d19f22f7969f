"""The end-to-end benchmark's table, its targets and "Reproducing" line, from the saved
result alone (bench/results/e2e.json): each target is marked met or missed from the
figures, never by hand."""

from __future__ import annotations

from typing import Any

# Issue 16's targets (they were 15 ms, 50 ms and 1,000 tasks/s before it): median and
# p99 latency from the sendTask response to the frame at most these, throughput at least.
MEDIAN_MS = 8.0
P99_MS = 20.0
TASKS_PER_SECOND = 2000.0


def mark(met: bool) -> str:
    return "met" if met else "**missed**"


def target_checks(figures: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(measure, result, target, met) for each target."""
    median, p99, rate = figures["median_ms"], figures["p99_ms"], figures["tasks_per_second"]
    return [
        ("latency, median", f"{median:.1f} ms", f"≤ {MEDIAN_MS:g} ms", median <= MEDIAN_MS),
        ("latency, p99", f"{p99:.1f} ms", f"≤ {P99_MS:g} ms", p99 <= P99_MS),
        (
            "throughput",
            f"{rate:,.0f} tasks/s",
            f"≥ {TASKS_PER_SECOND:,.0f} tasks/s",
            rate >= TASKS_PER_SECOND,
        ),
    ]


def table(figures: dict[str, Any]) -> str:
    latency = (
        f"{figures['latency_tasks']} tasks in batches of {figures['latency_batch']}, "
        "one batch at a time"
    )
    throughput = (
        f"{figures['throughput_tasks']} tasks in batches of {figures['throughput_batch']} "
        f"from {figures['clients']} clients"
    )
    workloads = [latency, "same", throughput]
    lines = ["| measure | workload | result | target |", "| --- | --- | --- | --- |"]
    for workload, (measure, got, target, met) in zip(
        workloads, target_checks(figures), strict=True
    ):
        lines.append(f"| {measure} | {workload} | {got} | {target}: {mark(met)} |")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    return (
        table(result["figures"]) + "\n\n"
        f"Reproducing: `just up` in one terminal, `just bench-e2e` in another, on "
        f"{result['machine']} (2 cores shared by PostgreSQL, RabbitMQ, the five services and "
        "the load generator). Latency is measured from the `sendTask` response to the "
        "WebSocket event.\n"
    )
