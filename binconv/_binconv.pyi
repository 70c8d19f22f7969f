"""The compiled kernel (Rust, PyO3). See binconv/src for the implementation."""

# PyO3 sets __all__ on the module to the functions it registers.
__all__ = ["_fill_limit", "decode", "encode", "encode_bytes", "encode_many"]

def encode(text: str) -> str:
    """The binary code of `text`'s UTF-8 bytes; UnicodeEncodeError for lone surrogates."""

def encode_bytes(data: bytes) -> str:
    """The binary code of raw bytes: eight '0'/'1' per byte, most significant bit first."""

def encode_many(texts: list[str]) -> list[str]:
    """`[encode(t) for t in texts]` in one call."""

def decode(code: str) -> str:
    """The inverse of `encode`; ValueError naming the position and the reason."""

def _fill_limit(n: int) -> str:
    """A new str of `n` '0' written by memset: the benchmark's memory-write limit."""
