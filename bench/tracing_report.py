"""The tracing benchmark's table, from the saved result alone (bench/results/tracing.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mode:
    name: str
    sampler_ratio: float | None  # None: tracing off (no endpoint set)

    def label(self) -> str:
        if self.sampler_ratio is None:
            return "off (OTEL_EXPORTER_OTLP_ENDPOINT unset)"
        return f"on, sampling {self.sampler_ratio:.0%}"


MODES = (Mode("off", None), Mode("ratio-0.01", 0.01), Mode("ratio-1", 1.0))


def _span(values: list[float], form: str) -> str:
    low, high = min(values), max(values)
    low_text, high_text = form.format(low), form.format(high)
    return low_text if low_text == high_text else f"{low_text} to {high_text}"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| tracing | median | p99 | tasks/s | services' CPU s per 1,000 tasks | spans exported "
        "per task |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in MODES:
        runs = result["runs"][mode.name]
        cpu = [
            (run["cpu_seconds"]["services"] + run["cpu_seconds"]["workers"]) * 1000 / run["tasks"]
            for run in runs
        ]
        # The sink counts every span of the run: the warm-up, both workloads.
        spans = [run["exported"].get("spans", 0) / _tasks_sent(result) for run in runs]
        lines.append(
            f"| {mode.label()} | {_span([r['median_ms'] for r in runs], '{:.1f} ms')} "
            f"| {_span([r['p99_ms'] for r in runs], '{:.1f} ms')} "
            f"| {_span([r['tasks_per_second'] for r in runs], '{:,.0f}')} "
            f"| {_span(cpu, '{:.2f}')} | {_span(spans, '{:.2f}')} |"
        )
    return "\n".join(lines) + "\n"


def _tasks_sent(result: dict[str, Any]) -> int:
    sizes = result["sizes"]
    return int(sizes["latency_tasks"] + sizes["throughput_tasks"] + sizes["latency_batch"])


def markdown(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    return (
        table(result)
        + f"\n{len(result['runs']['off'])} rounds of the three on fresh servers, commit "
        f"`{result['commit']}`; the peer benchmark's workloads (latency: "
        f"{sizes['latency_tasks']} tasks in batches of {sizes['latency_batch']}; "
        f"throughput: {sizes['throughput_tasks']:,} tasks in batches of "
        f"{sizes['throughput_batch']} from {sizes['clients']} clients), "
        "exporting over OTLP/HTTP to a sink that only counts. Each cell is the range over "
        "the rounds. Reproducing: `just bench-tracing` (about 4 minutes).\n"
    )
