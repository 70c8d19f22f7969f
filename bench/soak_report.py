"""The soak benchmark's tables and "Reproducing" paragraph, from the saved result alone
(bench/results/soak.json), so `python -m bench.readme` renders them without running it."""

from __future__ import annotations

from typing import Any

MIB = 1024  # /proc reports KiB


def total_pss(sample: dict[str, dict[str, int]]) -> str:
    return f"{sum(kinds['pss'] for kinds in sample.values()) / MIB:,.0f} MiB"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def report(result: dict[str, Any]) -> str:
    """The Markdown tables (terminal and docs/benchmarks.md), from the saved result alone."""
    t = result["totals"]
    lines = [
        "| window | tasks sent | requests late / skipped | results arrived | tasks/s "
        "| latency p50 | latency p99 | PSS, all processes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in result["windows"]:
        span = f"{w['from_s']:g}-{w['to_s']:g} s"
        if w.get("drain"):
            span = f"{w['from_s']:g}-{w['to_s']:.2f} s"
            lines.append(f"| {span} (drain) | - | - | {w['tasks_completed']:,} | - | - | - | - |")
            continue
        lines.append(
            f"| {span} | {w['tasks_sent']:,} | {w['requests_late']} / {w['requests_skipped']} "
            f"| {w['tasks_completed']:,} | {w['tasks_per_second']:,.0f} "
            f"| {_ms(w['p50_ms'])} | {_ms(w['p99_ms'])} "
            f"| {total_pss(w['memory_kib']) if 'memory_kib' in w else '-'} |"
        )
    lines += [
        f"| whole run | {t['tasks_sent']:,} | {t['requests_late']} / {t['requests_skipped']} "
        f"| {t['tasks_arrived']:,} | {t['tasks_per_second']:,.0f} "
        f"| {_ms(t['p50_ms'])} | {_ms(t['p99_ms'])} "
        f"| {total_pss(result['memory_kib']['end'])} at the end |",
        "",
        f"Lost: {t['lost']} of {t['tasks_sent']:,} tasks (and {t['warmup_lost']} of the "
        "warm-up's); wrong binary codes: "
        f"{t['wrong_codes']}; duplicate frames: {t['duplicate_frames']}; failed requests: "
        f"{t['requests_failed']} of {t['requests_due']:,} due; the schedule's largest lag: "
        f"{t['max_lag_ms']:.1f} ms.",
        "",
        "| process | RSS after warm-up | RSS at the end | RSS growth "
        "| PSS after warm-up | PSS at the end | PSS growth |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    start, end = result["memory_kib"]["start"], result["memory_kib"]["end"]
    for name in start:
        cells = [_memory_cells(start[name][kind], end[name][kind]) for kind in ("rss", "pss")]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _memory_cells(start: int, end: int) -> str:
    growth = end - start
    return (
        f"{start / MIB:,.1f} MiB | {end / MIB:,.1f} MiB "
        f"| {growth / MIB:+,.1f} MiB ({growth / max(start, 1):+.1%})"
    )


def reproducing(result: dict[str, Any]) -> str:
    s = result["settings"]
    command = (
        f"just bench-soak --rate {s['rate']:g} --seconds {s['seconds']:g} --batch {s['batch']}"
    )
    return (
        f"Reproducing: `{command}` on a fresh local stack (its own PostgreSQL and RabbitMQ), "
        f"on {result['machine']}, shared by PostgreSQL, RabbitMQ, the five services and the "
        f"load generator. Requests of {s['batch']} messages are due every "
        f"{s['batch'] / s['rate'] * 1000:g} ms whatever the responses, after a "
        f"{s['warmup']:g} s warm-up at the same rate; a request is late when it starts more "
        f"than one interval after it was due, skipped when {s['max_in_flight']} are still "
        "open. Latency runs from the start of the `sendTask` call to the result frame on the "
        "WebSocket, per window the requests were due in; tasks/s counts the results that "
        "arrived in the window. Memory is read at the end of each window and summed over "
        "each process tree: RSS (VmRSS) counts a shared page once per process that maps it, "
        "PSS (smaps_rollup) shares it out, so PostgreSQL's RSS grows as more backends touch "
        "the same shared buffers and its PSS is the figure to watch.\n"
    )
