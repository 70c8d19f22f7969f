"""decode: the inverse of encode, and errors that say where and why."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import binconv
from binconv import reference


def outcome(decode: object, code: str) -> tuple[str, str]:
    try:
        return ("ok", decode(code))  # type: ignore[operator]
    except ValueError as error:
        return (type(error).__name__, str(error))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "0101",
            "binary code length 4 is not a multiple of 8: "
            "the last byte, from position 0, has only 4 bits",
        ),
        (
            "0100000101",
            "binary code length 10 is not a multiple of 8: "
            "the last byte, from position 8, has only 2 bits",
        ),
        ("01x", "invalid character 'x' at position 2: a binary code holds only '0' and '1'"),
        ("0100000 1", "invalid character ' ' at position 7: a binary code holds only '0' and '1'"),
        ("0000000é", "invalid character 'é' at position 7: a binary code holds only '0' and '1'"),
        (
            "01\ud800",
            "invalid character '\\ud800' at position 2: a binary code holds only '0' and '1'",
        ),
        ("11111111", "binary code is not UTF-8: invalid byte sequence at position 0 (byte 0)"),
        (
            "011000011110001010000010",
            "binary code is not UTF-8: truncated byte sequence at position 8 (byte 1)",
        ),
    ],
)
def test_errors_name_position_and_reason(code: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        binconv.decode(code)
    assert str(error.value) == message
    assert type(error.value) is ValueError
    assert outcome(reference.decode, code) == ("ValueError", message)


def test_decode_of_empty_is_empty() -> None:
    assert binconv.decode("") == ""


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_any_byte_string_decodes_like_the_reference(data: bytes) -> None:
    code = binconv.encode_bytes(data)
    assert outcome(binconv.decode, code) == outcome(reference.decode, code)


@settings(max_examples=500)
@given(st.text(st.sampled_from("0101010101x 2\0é🙂"), max_size=40))
def test_arbitrary_strings_fail_like_the_reference(code: str) -> None:
    assert outcome(binconv.decode, code) == outcome(reference.decode, code)


def test_large_codes_decode_with_the_same_errors() -> None:
    text = "Grüße 🙂 " * 5000
    code = binconv.encode(text)
    assert binconv.decode(code) == text
    broken = code[:-8] + "11111111"
    assert outcome(binconv.decode, broken) == outcome(reference.decode, broken)
