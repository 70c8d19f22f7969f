"""Maximum requests as a benchmark sends them: each JSON body encoded once, before the
clock starts, and sent again after a retryable refusal, as a patient client would.

The messages, their digests and the query (ids only) are the fault suite's
(tests/faults/maximum.py); its `send_maximum` encodes the body on every call and treats
any refusal as a failure, while ten requests at once meet the gateway's busy answer
(it works on one large request at a time, the others wait at most
LARGE_REQUEST_WAIT_SECONDS, then get a retryable 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.faults.maximum import SEND_IDS, digest, maximum_messages


@dataclass
class Body:
    """One maximum request's JSON body and the SHA-256 of each of its messages."""

    json: bytes
    digests: list[str]


def build_bodies(count: int, messages: int) -> list[Body]:
    """The messages themselves (four bytes a character in CPython, for their emoji:
    256 MiB a request) are dropped once encoded."""
    bodies = []
    for number in range(count):
        texts = maximum_messages(f"big{number}", messages)
        query = {"query": SEND_IDS, "variables": {"m": texts}}
        bodies.append(Body(orjson.dumps(query), [digest(text) for text in texts]))
    return bodies


async def send_until_accepted(http: httpx.AsyncClient, url: str, body: Body) -> dict[str, Any]:
    """Returns the stored tasks (id -> message digest), the busy answers it got first,
    and when it was accepted (time.perf_counter)."""
    refusals = 0
    while True:
        response = await http.post(
            url, content=body.json, headers={"content-type": "application/json"}
        )
        answer = orjson.loads(response.content)
        errors = answer.get("errors") or []
        if errors and (errors[0].get("extensions") or {}).get("retryable"):
            refusals += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        if response.status_code != 200 or errors:
            raise RuntimeError(f"maximum request refused: HTTP {response.status_code} {errors}")
        ids = [task["id"] for task in answer["data"]["sendTask"]]
        tasks = dict(zip(ids, body.digests, strict=True))
        return {"tasks": tasks, "refusals": refusals, "accepted_at": time.perf_counter()}
