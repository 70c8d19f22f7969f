"""The maximum-request benchmark sends a request again when the gateway answers busy, and
its whole code path, at a tiny size on its own fresh stack, loses nothing and reports
every figure and every service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bench import big, big_report, big_requests
from devstack.stack import SERVICES

BUSY = {"errors": [{"message": "busy", "extensions": {"code": "UNAVAILABLE", "retryable": True}}]}


async def test_a_request_answered_busy_is_sent_again_until_accepted() -> None:
    answers = [
        httpx.Response(503, json=BUSY, headers={"retry-after": "0"}),
        httpx.Response(200, json={"data": {"sendTask": [{"id": "a"}, {"id": "b"}]}}),
    ]
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    body = big_requests.Body(b"{}", ["digest a", "digest b"])

    async with httpx.AsyncClient(transport=transport) as http:
        sent = await big_requests.send_until_accepted(http, "http://gateway/query", body)

    assert sent["tasks"] == {"a": "digest a", "b": "digest b"}
    assert sent["refusals"] == 1 and answers == []


async def test_a_request_refused_for_good_is_an_error() -> None:
    refusal = {"errors": [{"message": "too many messages", "extensions": {"code": "BAD"}}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=refusal))
    body = big_requests.Body(b"{}", [])

    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(RuntimeError, match="too many messages"):
            await big_requests.send_until_accepted(http, "http://gateway/query", body)


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_one_small_request_of_64_kib_messages_flows_and_is_reported(tmp_path: Path) -> None:
    committed = big.ROOT / "bench" / "results" / "big.json"
    before = committed.read_bytes() if committed.exists() else None

    big.main(["--requests", "1", "--messages", "20", "--output-dir", str(tmp_path)])

    assert (committed.read_bytes() if committed.exists() else None) == before
    result = json.loads((tmp_path / "big.json").read_text())
    [run] = result["runs"]
    assert run["requests"] == 1 and 0 < run["accepted_s"] <= run["delivered_s"]
    ledger = run["ledger"]
    assert ledger["lost"] == ledger["short_refused"] == 0
    assert ledger["processed"] == ledger["accepted"] == 20 + ledger["short_sent"]
    short = run["short"]
    assert short["sent"] == short["accepted"] > 0
    assert 0 < short["p50_ms"] <= short["p99_ms"]
    for cut in ("p50", "p99"):
        assert set(short[f"stages_{cut}_ms"]) == {"answered", "processed", "on_websocket"}
    assert set(run["peak_rss_mib"]) == set(run["limits_mib"]) == set(SERVICES)
    assert all(0 < run["peak_rss_mib"][s] < run["limits_mib"][s] for s in SERVICES)
    assert {"cpu", "cores", "python", "postgresql", "rabbitmq"} <= result["machine"].keys()
    table = big_report.markdown(result)
    assert "| 1 | 1.25 MiB |" in table and "Reproducing: `just bench-big`" in table
