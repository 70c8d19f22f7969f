"""The worker's Converter port's contract, run against every adapter.

A subclass supplies the adapter (`converter`). Each test states one promise of the
docstring in `pyservices/worker/ports.py`; the expected codes are those of
ARCHITECTURE.md ("Conversion semantics").
"""

from __future__ import annotations

import pytest

from pyservices.worker.ports import Converter

HELLO = "0110100001100101011011000110110001101111"


def utf8_code(message: str) -> str:
    return "".join(f"{byte:08b}" for byte in message.encode())


class ConverterContract:
    @pytest.fixture
    def converter(self) -> Converter:
        raise NotImplementedError("the adapter under test")

    def test_the_code_of_ascii_is_eight_digits_a_byte_most_significant_first(
        self, converter: Converter
    ) -> None:
        assert converter.encode_many(["hello", "A"]) == [HELLO, "01000001"]

    def test_multi_byte_characters_are_coded_by_their_utf8_bytes(
        self, converter: Converter
    ) -> None:
        messages = ["é", "naïve café", "emoji 🚀✨", "日本語", "\x00\x7f\u0080\U0010ffff"]

        assert converter.encode_many(messages) == [utf8_code(m) for m in messages]
        assert converter.encode_many(["é"]) == ["1100001110101001"]

    def test_an_empty_message_has_an_empty_code_and_no_messages_no_codes(
        self, converter: Converter
    ) -> None:
        assert converter.encode_many([""]) == [""]
        assert converter.encode_many([]) == []

    def test_many_messages_keep_their_order_and_whitespace(self, converter: Converter) -> None:
        messages = [f"  {n}\t" for n in range(1000)]

        assert converter.encode_many(messages) == [utf8_code(m) for m in messages]

    def test_a_message_with_no_utf8_form_is_refused_as_a_unicode_encode_error(
        self, converter: Converter
    ) -> None:
        for batch in (["\ud800"], ["fine", "lone \udfff surrogate", "fine"]):
            with pytest.raises(UnicodeEncodeError):
                converter.encode_many(batch)
