//! Binary code back to text, without Python. Checks, in this order: every character is
//! `0` or `1`, the length is a multiple of 8, the bytes are UTF-8.

use std::fmt;

/// Why a binary code is not the code of any text. Positions count characters of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The character at `position` is neither `0` nor `1`.
    InvalidChar { position: usize },
    /// `len` is not a multiple of 8.
    BadLength { len: usize },
    /// The bytes are not UTF-8: a bad sequence starts at byte `byte` (code position
    /// `8 * byte`); `truncated` when the code ends inside a sequence.
    NotUtf8 { byte: usize, truncated: bool },
}

impl fmt::Display for DecodeError {
    /// The message of the `ValueError`, except for `InvalidChar`, whose character the
    /// caller names (see `invalid_char_message`). `binconv.reference` words them alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::InvalidChar { position } => {
                write!(f, "invalid character at position {position}: {ONLY_BITS}")
            }
            DecodeError::BadLength { len } => write!(
                f,
                "binary code length {len} is not a multiple of 8: \
                 the last byte, from position {}, has only {} bits",
                len - len % 8,
                len % 8
            ),
            DecodeError::NotUtf8 { byte, truncated } => write!(
                f,
                "binary code is not UTF-8: {} at position {} (byte {byte})",
                if truncated {
                    "truncated byte sequence"
                } else {
                    "invalid byte sequence"
                },
                8 * byte
            ),
        }
    }
}

/// `repr` is the Python `repr()` of the offending character.
pub fn invalid_char_message(repr: &str, position: usize) -> String {
    format!("invalid character {repr} at position {position}: {ONLY_BITS}")
}

const ONLY_BITS: &str = "a binary code holds only '0' and '1'";

const ASCII_ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
const LOW_BITS: u64 = u64::from_le_bytes([1; 8]);
/// Moves bit 0 of byte `i` to bit `63 - i` (all products land on distinct bits, so no
/// carries): the first character becomes the most significant bit of the top byte.
const GATHER: u64 = 0x8040_2010_0804_0201;

/// Packs eight `0`/`1` characters (already checked) into a byte.
#[inline(always)]
fn pack(chars: [u8; 8]) -> u8 {
    let bits = u64::from_le_bytes(chars) & LOW_BITS;
    (bits.wrapping_mul(GATHER) >> 56) as u8
}

/// The position of the first character that is not `0`/`1`, if any.
pub fn find_invalid(code: &[u8]) -> Option<usize> {
    // Eight characters per step: a byte is '0' or '1' exactly when clearing its low bit
    // leaves '0'. The rare failure is located byte by byte afterwards.
    let mut chunks = code.chunks_exact(8);
    let mut bad = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        bad |= (u64::from_le_bytes(word) & !LOW_BITS) ^ ASCII_ZEROS;
    }
    let tail_bad = chunks.remainder().iter().any(|&c| c & !1 != b'0');
    if bad == 0 && !tail_bad {
        return None;
    }
    code.iter().position(|&c| c & !1 != b'0')
}

/// The bytes a checked-length, checked-characters code stands for.
pub fn pack_bytes(code: &[u8]) -> Vec<u8> {
    code.chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            pack(word)
        })
        .collect()
}

/// Decodes a code given as bytes (a Python code string is ASCII whenever it is valid).
pub fn decode(code: &[u8]) -> Result<String, DecodeError> {
    if let Some(position) = find_invalid(code) {
        return Err(DecodeError::InvalidChar { position });
    }
    if !code.len().is_multiple_of(8) {
        return Err(DecodeError::BadLength { len: code.len() });
    }
    String::from_utf8(pack_bytes(code)).map_err(|e| {
        let e = e.utf8_error();
        DecodeError::NotUtf8 {
            byte: e.valid_up_to(),
            truncated: e.error_len().is_none(),
        }
    })
}
