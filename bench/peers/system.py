"""What the workloads need of a system: start it, then submit a batch and await its results."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from bench.peers.servers import Servers

# A result: the binary code and when it reached the client (time.perf_counter).
Arrival = tuple[str, float]


class Client(Protocol):
    async def convert(self, messages: list[str]) -> list[Arrival]:
        """Submit one task per message as one batch; each result, in the messages' order."""
        ...


class Deployment(Protocol):
    def roles(self) -> dict[str, list[int]]:
        """The root pids of every process of the system (broker, database, workers...)."""
        ...

    def check(self) -> None:
        """Raises when one of its processes has died."""
        ...

    def connect(self, clients: int) -> AbstractAsyncContextManager[Client]:
        """A client good for `clients` batches in flight at once."""
        ...


@dataclass(frozen=True)
class System:
    name: str
    label: str  # "{version}" in it: the installed version of `package`
    # What it promises about a task: durable, publishes confirmed, results to browsers.
    guarantees: str
    # Starts it under a directory of its own, on those servers; stops it at the end.
    start: Callable[[Path, Servers], AbstractContextManager[Deployment]]
    package: str = ""
    note: str = ""  # what a reader needs to read its figures

    def title(self) -> str:
        return self.label.format(version=version(self.package)) if self.package else self.label


class BlockingClient(Protocol):
    def convert(self, messages: list[str]) -> list[Arrival]: ...

    def close(self) -> None:
        """Closes every connection it opened, in any thread."""
        ...


class ThreadedClient:
    """A blocking client (Celery's, Dramatiq's) behind the async interface: one thread
    per batch in flight, as a program with that many blocking callers would run it."""

    def __init__(self, blocking: BlockingClient, threads: int) -> None:
        self._blocking = blocking
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="peer-client")

    async def convert(self, messages: list[str]) -> list[Arrival]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._blocking.convert, messages)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._blocking.close()


@contextlib.asynccontextmanager
async def threaded(blocking: BlockingClient, threads: int) -> AsyncIterator[Client]:
    client = ThreadedClient(blocking, threads)
    try:
        yield client
    finally:
        await asyncio.to_thread(client.close)


def now() -> float:
    return time.perf_counter()
