"""The fake converter held to the converter's contract."""

from __future__ import annotations

import pytest

from pyservices.worker.ports import Converter
from tests.contracts.converter import ConverterContract
from tests.unit.worker.worker_fakes import FakeConverter


class TestFakeConverter(ConverterContract):
    @pytest.fixture
    def converter(self) -> Converter:
        return FakeConverter()
