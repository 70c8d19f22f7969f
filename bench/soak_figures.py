"""The soak's figures, from its load and the result frames of its WebSocket reader: per
window (requests by the window they were due in, results by the window they arrived in)
and for the whole run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bench.e2e import percentile
from binconv import reference
from tests.support.client import ResultFeed
from tests.support.load import FixedRateLoad

if TYPE_CHECKING:
    from bench.soak import Settings


def task_ids(load: FixedRateLoad) -> set[str]:
    """The tasks the load got stored."""
    return {task_id for request in load.requests for task_id in request.task_ids}


def windows(load: FixedRateLoad, feed: ResultFeed, settings: Settings) -> list[dict[str, Any]]:
    """Requests by the window they were due in (with their tasks' latencies), results by
    the window they arrived in; results after the last window make a final drain row."""
    count = math.ceil(settings.seconds / settings.window)
    bounds = [
        (i * settings.window, min((i + 1) * settings.window, settings.seconds))
        for i in range(count)
    ]
    sent, late, skipped, completed = [0] * count, [0] * count, [0] * count, [0] * (count + 1)
    latencies: list[list[float]] = [[] for _ in range(count)]
    for request in load.requests:
        index = min(int(request.due // settings.window), count - 1)
        sent[index] += len(request.tasks)
        late[index] += request.lag > settings.interval
        latencies[index] += [
            (feed.first_arrival[task_id] - request.started) * 1000
            for task_id in request.tasks
            if task_id in feed.first_arrival
        ]
    for due in load.skipped:
        skipped[min(int(due // settings.window), count - 1)] += 1
    last = settings.seconds
    for task_id in task_ids(load) & feed.first_arrival.keys():
        at = feed.first_arrival[task_id] - load.start
        completed[
            min(int(at // settings.window), count - 1) if at < settings.seconds else count
        ] += 1
        last = max(last, at)
    rows: list[dict[str, Any]] = [
        {
            "from_s": start,
            "to_s": end,
            "tasks_sent": sent[i],
            "requests_late": late[i],
            "requests_skipped": skipped[i],
            "tasks_completed": completed[i],
            "tasks_per_second": completed[i] / (end - start),
            "p50_ms": percentile(latencies[i], 0.5) if latencies[i] else None,
            "p99_ms": percentile(latencies[i], 0.99) if latencies[i] else None,
        }
        for i, (start, end) in enumerate(bounds)
    ]
    if completed[count]:
        rows.append(
            {"from_s": settings.seconds, "to_s": last, "drain": True}
            | {"tasks_completed": completed[count]}
        )
    return rows


def totals(load: FixedRateLoad, feed: ResultFeed, settings: Settings) -> dict[str, Any]:
    tasks = {task_id: m for request in load.requests for task_id, m in request.tasks.items()}
    arrived = tasks.keys() & feed.first_arrival.keys()
    latencies = [
        (feed.first_arrival[task_id] - request.started) * 1000
        for request in load.requests
        for task_id in request.tasks
        if task_id in feed.first_arrival
    ]
    last = max((feed.first_arrival[i] - load.start for i in arrived), default=0.0)
    seconds = max(last, settings.seconds)  # the offered load spans the whole schedule
    return {
        "requests_due": len(load.requests) + len(load.skipped),
        "requests_failed": sum(r.outcome != "accepted" for r in load.requests),
        "requests_late": sum(r.lag > settings.interval for r in load.requests),
        "requests_skipped": len(load.skipped),
        "max_lag_ms": max((r.lag * 1000 for r in load.requests), default=0.0),
        "errors": sorted({r.error for r in load.requests if r.error})[:5],
        "tasks_sent": len(tasks),
        "tasks_arrived": len(arrived),
        "lost": len(tasks) - len(arrived),
        "duplicate_frames": feed.duplicates(),
        "wrong_codes": sum(
            frame["binaryCode"] != reference.encode(tasks[frame["id"]])
            for frame in feed.frames
            if frame["id"] in tasks
        ),
        "tasks_per_second": len(arrived) / seconds,
        "p50_ms": percentile(latencies, 0.5) if latencies else None,
        "p99_ms": percentile(latencies, 0.99) if latencies else None,
    }
