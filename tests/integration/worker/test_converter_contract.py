"""The Rust kernel's converter held to the converter's contract.

Not marked `integration`: the kernel is in-process and needs no server.
"""

from __future__ import annotations

import pytest

from pyservices.worker.adapters.converter import BinconvConverter
from pyservices.worker.ports import Converter
from tests.contracts.converter import ConverterContract


class TestBinconvConverter(ConverterContract):
    @pytest.fixture
    def converter(self) -> Converter:
        return BinconvConverter()
