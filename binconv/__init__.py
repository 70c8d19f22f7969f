"""Text to binary code and back: the UTF-8 bytes of a text, eight '0'/'1' each, most
significant bit first. The functions are the Rust kernel (`binconv._binconv`);
`binconv.reference` is its pure-Python twin with the same API.
"""

from binconv._binconv import decode, encode, encode_bytes, encode_many

__all__ = ["decode", "encode", "encode_bytes", "encode_many"]
