"""The fake task service and a running result submitter in front of it, for the
worker's use-case tests (test_byte_budget.py makes its own, with a byte budget)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pyservices.worker.results import ResultSubmitter
from tests.unit.worker.worker_fakes import FakeTaskService


@pytest.fixture
def service() -> FakeTaskService:
    return FakeTaskService()


@pytest.fixture
async def submitter(service: FakeTaskService) -> AsyncIterator[ResultSubmitter]:
    stop = asyncio.Event()
    subject = ResultSubmitter(service, backoff_cap=0.05)
    running = asyncio.create_task(subject.run(stop))
    yield subject
    stop.set()
    await asyncio.wait_for(running, 2)
