"""A small client of the running system, for the end-to-end tests and benchmarks:
GraphQL over HTTP (httpx) and the WebSocket feed (websockets)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

TASK_FIELDS = "id message binaryCode createdAt updatedAt"


def send_task_mutation(fields: str = TASK_FIELDS) -> str:
    """The sendTask mutation of the messages `$m`, selecting `fields` of each task."""
    return f"mutation($m: [String!]!) {{ sendTask(messages: $m) {{ {fields} }} }}"


SEND_TASK = send_task_mutation()


class GraphQLError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error.get("message")) for error in errors))
        self.errors = errors


class GraphQLClient:
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(self.url, json={"query": query, "variables": variables})
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        response.raise_for_status()
        return body["data"]

    async def send_tasks(self, messages: list[str]) -> list[dict[str, str]]:
        data = await self.execute(SEND_TASK, {"m": messages})
        return list(data["sendTask"])

    async def tasks(self, limit: int = 50, offset: int = 0) -> list[dict[str, str]]:
        data = await self.execute(
            f"query($l: Int, $o: Int) {{ tasks(limit: $l, offset: $o) {{ {TASK_FIELDS} }} }}",
            {"l": limit, "o": offset},
        )
        return list(data["tasks"])


class ResultFeed:
    """Collects every frame of one WebSocket connection; lets a test await given ids.

    With `keep_codes=False` each frame keeps the SHA-256 of its binary code
    (`binaryCodeSha256`) instead of the code: 3,000 maximum-size results are 1.5 GB.
    """

    def __init__(self, keep_codes: bool = True) -> None:
        self.keep_codes = keep_codes
        self.frames: list[dict[str, Any]] = []
        # When each id first arrived (time.perf_counter), for latency and recovery figures.
        self.first_arrival: dict[str, float] = {}
        self._changed = asyncio.Condition()

    async def wait_for(self, ids: set[str], seconds: float) -> dict[str, dict[str, Any]]:
        async def arrived() -> dict[str, dict[str, Any]]:
            async with self._changed:
                await self._changed.wait_for(lambda: ids <= self.first_arrival.keys())
            return {f["id"]: f for f in self.frames if f["id"] in ids}

        return await asyncio.wait_for(arrived(), seconds)

    async def wait_for_frames(self, count: int, seconds: float) -> None:
        """Until this connection has received `count` frames in all."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.frames) >= count)

    def duplicates(self) -> int:
        """Frames beyond the first for the same id."""
        return len(self.frames) - len({frame["id"] for frame in self.frames})

    async def _add(self, frame: dict[str, Any]) -> None:
        if not self.keep_codes:
            code = frame.pop("binaryCode", "")
            frame["binaryCodeSha256"] = hashlib.sha256(code.encode()).hexdigest()
        self.first_arrival.setdefault(frame["id"], time.perf_counter())
        async with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()


@contextlib.asynccontextmanager
async def result_feed(
    url: str, keep_codes: bool = True, headers: dict[str, str] | None = None
) -> AsyncIterator[ResultFeed]:
    async with (
        websockets.connect(url, max_size=None, additional_headers=headers) as connection,
        feed_of(connection, keep_codes) as feed,
    ):
        yield feed


@contextlib.asynccontextmanager
async def feed_of(
    connection: ClientConnection, keep_codes: bool = True
) -> AsyncIterator[ResultFeed]:
    """The frames of a connection the test opened itself (with a token, say)."""
    feed = ResultFeed(keep_codes)

    async def read() -> None:
        async for raw in connection:
            await feed._add(orjson.loads(raw))

    reader = asyncio.create_task(read())
    try:
        yield feed
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await reader
