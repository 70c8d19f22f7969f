"""Renders every generated block of README.md and docs/benchmarks.md from the saved
results (bench/results/*.json), between `<!-- name:start -->` and `<!-- name:end -->`
markers, so the docs never drift from the figures. `just readme` runs it, and so does
each benchmark after saving its JSON. Each target is marked met or missed here, from the
figures, never by hand."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    big_report,
    e2e_report,
    kernel_report,
    reliability,
    scaling_report,
    soak_report,
    tracing_report,
)
from bench.peers import report as peers_report

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/benchmarks.md")
RESULTS = ROOT / "bench" / "results"
Results = dict[str, Any]


def _soak(result: Results) -> str:
    return soak_report.report(result) + "\n" + soak_report.reproducing(result)


# Each block: the results it reads (bench/results/<name>.json) and how it renders them.
BLOCKS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "bench-kernel": ("kernel", kernel_report.markdown),
    "bench-e2e": ("e2e", e2e_report.markdown),
    "bench-scaling": ("scaling", scaling_report.markdown),
    "bench-soak": ("soak", _soak),
    "bench-big": ("big", big_report.markdown),
    "bench-peers": ("peers", peers_report.markdown),
    "bench-tracing": ("tracing", tracing_report.markdown),
    "reliability": ("reliability", reliability.render),
}


def load() -> dict[str, Any]:
    """Every saved result, by name (a benchmark never run is simply absent)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))}


def summary(results: dict[str, Any]) -> str:
    """One row per headline figure of each benchmark, its target marked met or missed."""
    rows: list[tuple[str, str, str, str]] = []
    if "kernel" in results:
        for what, got, met in kernel_report.target_checks(results["kernel"]):
            rows.append(("`just bench-kernel`", what, got, e2e_report.mark(met)))
    if "e2e" in results:
        for measure, got, target, met in e2e_report.target_checks(results["e2e"]["figures"]):
            rows.append(("`just bench-e2e`", f"{measure} {target}", got, e2e_report.mark(met)))
    if "scaling" in results:
        rates = results["scaling"]["tasks_per_second"]
        rows.append(
            (
                "`just bench-scaling`",
                f"tasks/s end to end with {' / '.join(rates)} worker processes",
                " / ".join(f"{rate:,.0f}" for rate in rates.values()),
                "—",
            )
        )
    if "soak" in results:
        rows.append(_soak_row(results["soak"]))
    if "big" in results:
        rows += _big_rows(results["big"])
    if "peers" in results:
        for what, got, met in peers_report.target_checks(results["peers"]):
            rows.append(("`just bench-peers`", what, got, e2e_report.mark(met)))
    if "reliability" in results:
        cases = results["reliability"]
        lost = sum(case["lost"] for case in cases)
        accepted = sum(case["accepted"] for case in cases)
        rows.append(
            (
                "`just reliability`",
                f"accepted tasks lost in {len(cases)} fault cases: none",
                f"{lost:,} of {accepted:,}",
                e2e_report.mark(lost == 0),
            )
        )
    lines = ["| benchmark | measure and target | result | target |", "| --- | --- | --- | --- |"]
    previous = ""
    for command, what, got, mark in rows:
        lines.append(f"| {command if command != previous else ''} | {what} | {got} | {mark} |")
        previous = command
    return "\n".join(lines) + "\n\n" + _machine(results)


def _soak_row(soak: Results) -> tuple[str, str, str, str]:
    s, t = soak["settings"], soak["totals"]
    return (
        "`just bench-soak`",
        f"{s['rate']:g} tasks/s for {s['seconds']:g} s: latency p50 / p99, tasks lost",
        f"{t['p50_ms']:.1f} ms / {t['p99_ms']:.1f} ms, {t['lost']} of {t['tasks_sent']:,}",
        "—",
    )


def _big_rows(big: Results) -> list[tuple[str, str, str, str]]:
    runs = big["runs"]
    counts = " / ".join(str(run["requests"]) for run in runs)
    delivered = " / ".join(f"{run['delivered_s']:.0f} s" for run in runs)
    p99 = " / ".join(f"{run['short']['p99_ms'] / 1000:.1f} s" for run in runs)
    # The fullest service of any row, against its memory limit.
    share, service, peak, limit = max(
        (peak / run["limits_mib"][service], service, peak, run["limits_mib"][service])
        for run in runs
        for service, peak in run["peak_rss_mib"].items()
    )
    return [
        (
            "`just bench-big`",
            f"{counts} maximum requests at once: every result on every client in",
            delivered,
            "—",
        ),
        ("`just bench-big`", "short tasks meanwhile: latency p99", p99, "—"),
        (
            "`just bench-big`",
            "peak RSS of every service within its memory limit (the fullest shown)",
            f"{service} {peak:,.0f} of {limit:,.0f} MiB ({share:.0%})",
            e2e_report.mark(share <= 1),
        ),
    ]


def _machine(results: dict[str, Any]) -> str:
    machine = (results.get("big") or results.get("kernel") or {}).get("machine")
    if not machine:
        return ""
    return (
        f"Measured on {machine['cpu']} ({machine['cores']} cores), Python {machine['python']}; "
        "the pipeline's benchmarks share that machine with PostgreSQL, RabbitMQ, the five "
        "services and the load generator. Each benchmark's machine, commit and method are "
        "given with its full table.\n"
    )


def render(text: str, results: dict[str, Any] | None = None) -> str:
    """`text` with every block whose results exist rendered afresh."""
    results = load() if results is None else results
    text = _fill(text, "bench-summary", summary(results))
    for name, (source, markdown) in BLOCKS.items():
        if source in results:
            text = _fill(text, name, markdown(results[source]).strip())
    return text


def _fill(text: str, name: str, block: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda match: f"{match[1]}{block.strip()}\n{match[2]}", text)


def main() -> None:
    results = load()
    for document in DOCUMENTS:
        path = ROOT / document
        if path.exists():
            path.write_text(render(path.read_text(), results))


if __name__ == "__main__":
    main()
