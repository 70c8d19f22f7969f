"""The peer benchmark's table, from the saved result alone (bench/results/peers.json)."""

from __future__ import annotations

from typing import Any

Result = dict[str, Any]


def table(result: Result) -> str:
    lines = [
        "| system | median | p99 | tasks/s | CPU s per 1,000 tasks | of which broker / "
        "database / results / workers / services | clients' CPU s per 1,000 |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for system in result["systems"]:
        tasks = system["tasks"]
        parts = " / ".join(
            f"{system['cpu_seconds'][role] * 1000 / tasks:.2f}"
            if role in system["cpu_seconds"]
            else "-"
            for role in ("broker", "database", "results", "workers", "services")
        )
        lines.append(
            f"| {system['label']} | {system['median_ms']:.1f} ms | {system['p99_ms']:.1f} ms "
            f"| {system['tasks_per_second']:,.0f} | {system['cpu_seconds_per_1000']:.2f} "
            f"| {parts} | {system['client_cpu_seconds_per_1000']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def guarantees(result: Result) -> str:
    return "".join(
        f"- **{system['label']}**: {system['guarantees']}."
        + (f" {system['note']}" if system.get("note") else "")
        + "\n"
        for system in result["systems"]
    )


def reproducing(result: Result) -> str:
    sizes, machine = result["sizes"], result["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    load = " / ".join(f"{value:.1f}" for value in result["load_average"])
    if "load_average_after" in result:
        after = " / ".join(f"{value:.1f}" for value in result["load_average_after"])
        load = f"{load} before the run and {after} after it"
    else:
        load = f"{load} before the run"
    return (
        f"Reproducing: `just bench-peers`. Latency: {sizes['latency_tasks']} tasks in batches "
        f"of {sizes['latency_batch']}, the next batch after the last result, each task "
        "timed from the start of the submit call to its result reaching the client "
        "(the pipeline: the sendTask request to the WebSocket frame; Celery and Dramatiq: "
        "the caller collects a batch's results in submit order). Throughput: "
        f"{sizes['throughput_tasks']:,} tasks in batches of {sizes['throughput_batch']} "
        f"from {sizes['clients']} clients, each waiting for its batch's results, first "
        "submit to last result. CPU: every process of the system (broker, database or "
        "result store, workers, services, with their children) read from /proc before and "
        "after the throughput run; the clients (one Python process, a thread per client "
        "for Celery and Dramatiq) apart. Each system on its own fresh servers, one after "
        f"another in one run, on {machine['cpu']} ({machine['cores']} cores), "
        f"Python {machine['python']}, {versions}; commit {result['commit']}, "
        f"load average (1, 5, 15 min) {load}.\n"
    )


def markdown(result: Result) -> str:
    return table(result) + "\n" + guarantees(result) + "\n" + reproducing(result)


def target_checks(result: Result) -> list[tuple[str, str, bool]]:
    """Issue 16's throughput target against the peers: (what, figure, met), for a summary."""
    rates = {system["name"]: system["tasks_per_second"] for system in result["systems"]}
    if "pipeline" not in rates:
        return []
    ours = rates["pipeline"]
    pipeline = next(system for system in result["systems"] if system["name"] == "pipeline")
    median, cpu = pipeline["median_ms"], pipeline["cpu_seconds_per_1000"]
    checks = [
        ("pipeline tasks/s at least 2,000", f"{ours:,.0f}", ours >= 2000),
        ("pipeline median from the submit call at most 15 ms", f"{median:.1f} ms", median <= 15),
        (
            "pipeline CPU s per 1,000 tasks, every process, at most half of 1.99 (the issue's)",
            f"{cpu:.2f}",
            cpu <= 1.99 / 2,
        ),
    ]
    best = max(((rate, name) for name, rate in rates.items() if name != "pipeline"), default=None)
    if best is not None:
        rate, name = best
        checks.append((f"pipeline tasks/s above every peer's (best: {name})",
                       f"{ours:,.0f} against {rate:,.0f}", ours > rate))  # fmt: skip
    return checks
