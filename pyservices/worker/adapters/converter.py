"""The conversion kernel: the Rust `binconv` extension, one call per batch."""

from __future__ import annotations

import binconv
from pyservices.worker.ports import Converter


class BinconvConverter(Converter):
    def encode_many(self, messages: list[str]) -> list[str]:
        return binconv.encode_many(messages)
