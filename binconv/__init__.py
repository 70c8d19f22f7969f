"""Text to binary code: the Rust kernel (placeholder until the kernel issue lands)."""

from binconv._binconv import encode

__all__ = ["encode"]
