"""The OutboxWakeups contract against PostgreSQL's LISTEN, on a database of the test's own."""

from __future__ import annotations

import asyncio

import pytest

from pyservices.publisher.adapters.listener import OutboxListener
from tests.contracts.outbox_wakeups import AddRow, Listen, Outage, OutboxWakeupsContract
from tests.integration.publisher.relay_support import created, database_outage, insert

pytestmark = pytest.mark.integration


class TestPostgresOutboxWakeups(OutboxWakeupsContract):
    @pytest.fixture
    def listen(self, database_url: str) -> Listen:
        def listen(wakeup: asyncio.Event) -> OutboxListener:
            return OutboxListener(database_url, wakeup)

        return listen

    @pytest.fixture
    def add_row(self, database_url: str) -> AddRow:
        return lambda: insert(database_url, created(1))

    @pytest.fixture
    def outage(self, database_url: str) -> Outage:
        return lambda: database_outage(database_url)
