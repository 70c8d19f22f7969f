"""The maximum-request benchmark's tables and "Reproducing" line, from the saved result
alone (bench/results/big.json), so `python -m bench.readme` can regenerate the README
without re-running and without importing the benchmark's dependencies."""

from __future__ import annotations

from typing import Any


def markdown(result: dict[str, Any]) -> str:
    return "\n\n".join([_lead(result), timing(result), memory(result), reproducing(result)])


def _lead(result: dict[str, Any]) -> str:
    s = result["settings"]
    return (
        f"**The documented maximum** (`just bench-big`): N requests of {s['messages']:,} "
        f"messages of 64 KiB of UTF-8 sent at once, while short tasks keep coming "
        f"({s['rate']:g} a second in batches of {s['batch']}) and {s['listeners']} WebSocket "
        "clients listen; each N on a fresh stack."
    )


def timing(result: dict[str, Any]) -> str:
    lines = [
        "| requests at once | data in | all accepted in | every result on every client in "
        "| short tasks sent meanwhile (refused) | their latency p50 / p99 "
        "| its stages, p50: answered / processed / on the WebSocket | the same, p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        short = run["short"]
        refused = f" ({short['refused']:,})" if short["refused"] else ""
        retries = f" ({run['refusals']} busy, retried)" if run["refusals"] else ""
        lines.append(
            f"| {run['requests']} | {run['data_mib']:,g} MiB "
            f"| {run['accepted_s']:.1f} s{retries} | {run['delivered_s']:.1f} s "
            f"| {short['sent']:,}{refused} | {_s(short['p50_ms'])} / {_s(short['p99_ms'])} "
            f"| {_stages(short['stages_p50_ms'])} | {_stages(short['stages_p99_ms'])} |"
        )
    return "\n".join(lines)


def _stages(ms: dict[str, float | None]) -> str:
    return " / ".join(_s(ms[stage]) for stage in ("answered", "processed", "on_websocket"))


def memory(result: dict[str, Any]) -> str:
    runs = result["runs"]
    head = " | ".join(f"peak RSS, {r['requests']} at once" for r in runs)
    lines = [f"| service | memory limit | {head} |", "| --- | ---: |" + " ---: |" * len(runs)]
    for service, limit in runs[0]["limits_mib"].items():
        cells = " | ".join(_peak(r["peak_rss_mib"].get(service), limit) for r in runs)
        lines.append(f"| {service} | {limit:,.0f} MiB | {cells} |")
    return "\n".join(lines)


def _peak(peak: float | None, limit: float) -> str:
    if peak is None:
        return "-"
    over = " **over**" if peak > limit else ""
    return f"{peak:,.0f} MiB ({peak / limit:.0%}){over}"


def _s(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def reproducing(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"Reproducing: `just bench-big` (commit {result['commit']}, {result['datetime']}) on "
        f"{m['cpu']}, {m['cores']} cores, {m['system']}, Python {m['python']}, PostgreSQL "
        f"{m['postgresql']}, RabbitMQ {m['rabbitmq']}, shared by PostgreSQL, RabbitMQ, the "
        "five services and the load generator (which also reads every result twice, once "
        "per client). Each request's JSON body is built before the clock starts; the N go at "
        "once, and one the gateway answers busy (a retryable 503: it works on one large "
        "request at a time) is sent again after its Retry-After. *All accepted*: until the "
        "last `sendTask` answered; *every result*: until every client had every result of "
        "the N requests. The short tasks counted are those whose `sendTask` started in that "
        "window, their latency from the start of that call to their frame on the first "
        "client; its stages: the call answered, then `processed_at` in PostgreSQL (the "
        "relay, the queue and the worker), then the frame (the relay, the fanout and the "
        "WebSocket service). Peak RSS is each service process's VmHWM at the end of the "
        "row, against its memory limit in deploy/k8s/base. Every task is then checked by "
        "the fault suite's ledger: stored, one `task.created` and one `task.processed` "
        "event, the right code on every client, outbox and queues empty.\n"
    )
