"""encode / encode_bytes / encode_many: the Rust kernel against its pure-Python twin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import binconv
from binconv import reference

# Every code point but surrogates, NUL included; and narrower alphabets, so each of
# CPython's representations (ASCII, Latin-1, UCS-2, UCS-4) is exercised.
any_text = st.text(st.characters(blacklist_categories=["Cs"]))
latin1_text = st.text(st.characters(max_codepoint=0xFF))
bmp_text = st.text(st.characters(max_codepoint=0xFFFF, blacklist_categories=["Cs"]))
ascii_text = st.text(st.characters(max_codepoint=0x7F), min_size=0, max_size=200)
texts = st.one_of(any_text, latin1_text, bmp_text, ascii_text)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("hello", "0110100001100101011011000110110001101111"),
        ("é", "1100001110101001"),
        ("A", "01000001"),
        ("", ""),
        ("\0", "00000000"),
    ],
)
def test_encodes_the_documented_examples(message: str, code: str) -> None:
    assert binconv.encode(message) == code


@settings(max_examples=500)
@given(texts)
def test_encode_is_the_reference_and_decodes_back(text: str) -> None:
    code = binconv.encode(text)
    assert code == reference.encode(text)
    assert len(code) == 8 * len(text.encode())
    assert set(code) <= {"0", "1"}
    assert binconv.decode(code) == text


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_encode_bytes_is_the_reference(data: bytes) -> None:
    assert binconv.encode_bytes(data) == reference.encode_bytes(data)


@settings(max_examples=200)
@given(st.lists(texts, max_size=20))
def test_encode_many_is_encode_of_each(batch: list[str]) -> None:
    assert binconv.encode_many(batch) == [reference.encode(t) for t in batch]


@given(st.data())
def test_lone_surrogates_raise_the_same_error_as_str_encode(data: st.DataObject) -> None:
    before = data.draw(any_text)
    surrogates = data.draw(
        st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
    )
    text = before + surrogates + data.draw(any_text)
    with pytest.raises(UnicodeEncodeError) as expected:
        reference.encode(text)
    with pytest.raises(UnicodeEncodeError) as got:
        binconv.encode(text)
    assert str(got.value) == str(expected.value)
    with pytest.raises(UnicodeEncodeError):
        binconv.encode_many(["ok", text])


@pytest.mark.parametrize("size", [15, 16, 17, 16 * 1024 - 1, 16 * 1024, 100_003])
@pytest.mark.parametrize("unit", ["a", "é", "€", "🙂", "a\0é€🙂"])
def test_sizes_around_the_vector_and_gil_thresholds(size: int, unit: str) -> None:
    text = (unit * size)[:size]
    assert binconv.encode(text) == reference.encode(text)
    assert binconv.encode_many([text, text]) == [reference.encode(text)] * 2


def test_str_subclasses_are_read_through_their_own_buffer() -> None:
    class Tagged(str):
        pass

    for text in ["plain", "café", "Привет", "🙂 ok"]:
        assert binconv.encode(Tagged(text)) == reference.encode(text)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (binconv.encode, b"bytes"),
        (binconv.encode, None),
        (binconv.encode_bytes, "text"),
        (binconv.encode_many, ("a tuple",)),
        (binconv.encode_many, ["ok", 3]),
        (binconv.decode, b"0101"),
    ],
)
def test_wrong_types_raise_type_error(call: object, argument: object) -> None:
    with pytest.raises(TypeError):
        call(argument)  # type: ignore[operator]
