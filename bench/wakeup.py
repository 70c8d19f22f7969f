"""`python -m bench.wakeup`: what one request to a service costs after the service has
been idle for a while, against a running stack (`just up`).

A diagnosis, not a benchmark with a target: it measures why the latency workload pays
more CPU per task than the throughput one. In the latency workload every process of the
chain runs briefly and then waits while the others run, so each hand-off reaches a
process whose caches the others have meanwhile evicted. Here one process alone answers
(the gateway's `{ __typename }`, which calls no other service), over one kept-alive
connection, with a pause before each request; the standard library's client keeps the
client's own share small.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlsplit

PAUSES_MS = (0, 1, 5, 20, 50)


def measure(url: str, pause_ms: float, requests: int) -> list[float]:
    """Milliseconds per request, each after `pause_ms` of nothing sent."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)
    body = json.dumps({"query": "{ __typename }"})
    headers = {"Content-Type": "application/json"}
    timings = []
    try:
        for _ in range(requests + 5):  # the first five warm the connection up
            started = time.perf_counter()
            connection.request("POST", parts.path or "/", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            timings.append((time.perf_counter() - started) * 1000)
            if pause_ms:
                time.sleep(pause_ms / 1000)
    finally:
        connection.close()
    return timings[5:]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wakeup")
    parser.add_argument("--graphql", default="http://127.0.0.1:8080/query")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print("| pause before each request | median | p90 |")
    print("| ---: | ---: | ---: |")
    for pause in PAUSES_MS:
        timings = sorted(measure(args.graphql, pause, args.requests))
        p90 = timings[int(0.9 * (len(timings) - 1))]
        print(f"| {pause} ms | {statistics.median(timings):.2f} ms | {p90:.2f} ms |")


if __name__ == "__main__":
    main()
