//! Text to binary code, without Python: each UTF-8 byte becomes eight ASCII `0`/`1`,
//! most significant bit first.
//!
//! The input is read in the representation CPython already holds (PEP 393: one, two or
//! four bytes per code point) and UTF-8 is produced on the fly, so a call needs no UTF-8
//! copy of its input and never asks CPython to cache one inside the caller's string.
//!
//! Outputs are `MaybeUninit` slots: the glue hands over a new `str`'s characters before
//! they are written, and each writer returns how many slots it wrote, so the glue can
//! check that none was left uninitialised.

use std::mem::MaybeUninit;

/// The eight output characters of one byte.
pub type Slot = [u8; 8];

/// `TABLE[b]` is `b` written in binary, most significant bit first: one 8-byte load and
/// one 8-byte store per input byte.
pub static TABLE: [Slot; 256] = build_table();

const fn build_table() -> [Slot; 256] {
    let mut table = [[b'0'; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            if byte & (0x80 >> bit) != 0 {
                table[byte][bit] = b'1';
            }
            bit += 1;
        }
        byte += 1;
    }
    table
}

/// A string as CPython stores it, or raw bytes.
#[derive(Clone, Copy, Debug)]
pub enum Text<'a> {
    /// Bytes written as they are: `bytes` input, or a pure-ASCII `str`.
    Bytes(&'a [u8]),
    /// One byte per code point, some of them above 0x7F (Latin-1).
    Latin1(&'a [u8]),
    /// Two bytes per code point (may hold lone surrogates).
    Ucs2(&'a [u16]),
    /// Four bytes per code point (may hold lone surrogates).
    Ucs4(&'a [u32]),
}

/// A run of lone surrogates, which UTF-8 cannot encode: code point indexes `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Surrogates {
    pub start: usize,
    pub end: usize,
}

#[inline(always)]
fn is_surrogate(c: u32) -> bool {
    c & 0xFFFF_F800 == 0xD800
}

#[inline(always)]
fn utf8_width(c: u32) -> usize {
    1 + usize::from(c >= 0x80) + usize::from(c >= 0x800) + usize::from(c >= 0x1_0000)
}

/// UTF-8 length of wide text; an error names the first run of surrogates, as CPython's
/// encoder reports it.
fn wide_utf8_len<T: Copy + Into<u32>>(units: &[T]) -> Result<usize, Surrogates> {
    // Two branch-free sums the compiler vectorizes; the rare error is located afterwards.
    let mut len = 0usize;
    let mut surrogate = false;
    for &u in units {
        let c: u32 = u.into();
        len += utf8_width(c);
        surrogate |= is_surrogate(c);
    }
    if !surrogate {
        return Ok(len);
    }
    let start = units
        .iter()
        .position(|&u| is_surrogate(u.into()))
        .unwrap_or(0);
    let run = units[start..]
        .iter()
        .take_while(|&&u| is_surrogate(u.into()))
        .count();
    Err(Surrogates {
        start,
        end: start + run,
    })
}

impl Text<'_> {
    /// The UTF-8 length, or the lone surrogates that make UTF-8 impossible.
    pub fn utf8_len(&self) -> Result<usize, Surrogates> {
        match *self {
            Text::Bytes(b) => Ok(b.len()),
            Text::Latin1(b) => Ok(b.len() + b.iter().filter(|&&c| c >= 0x80).count()),
            Text::Ucs2(u) => wide_utf8_len(u),
            Text::Ucs4(u) => wide_utf8_len(u),
        }
    }

    /// Writes the binary code into `out` and returns how many slots it wrote: all
    /// `utf8_len()` of them when `out` is that long; a shorter `out` is filled as far as
    /// whole characters go (never a panic), a longer one keeps its tail.
    pub fn encode_into(&self, out: &mut [MaybeUninit<Slot>]) -> usize {
        match *self {
            Text::Bytes(b) => encode_bytes_into(b, out),
            Text::Latin1(b) => encode_units_into(b.iter().map(|&c| u32::from(c)), out),
            Text::Ucs2(u) => encode_units_into(u.iter().map(|&c| u32::from(c)), out),
            Text::Ucs4(u) => encode_units_into(u.iter().copied(), out),
        }
    }
}

/// The hot loop for ASCII text and bytes: 64- or 32-byte vector stores where the CPU has
/// AVX-512 or AVX2, else one table load and one 8-byte store per byte. Returns the
/// slots written: one per byte of `src`, as far as `out` goes.
#[inline]
pub fn encode_bytes_into(src: &[u8], out: &mut [MaybeUninit<Slot>]) -> usize {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if src.len() >= 16 {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: AVX-512BW (which implies F) is present; writes stay inside `out`.
            done = unsafe { crate::simd::encode_avx512(src, out) };
        } else if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the function writes only inside `out`.
            done = unsafe { crate::simd::encode_avx2(src, out) };
        }
    }
    done + encode_bytes_scalar(
        src.get(done..).unwrap_or(&[]),
        out.get_mut(done..).unwrap_or(&mut []),
    )
}

/// The portable loop, also the tail of the vector one; returns the slots written.
#[inline]
pub fn encode_bytes_scalar(src: &[u8], out: &mut [MaybeUninit<Slot>]) -> usize {
    for (slot, &b) in out.iter_mut().zip(src) {
        slot.write(TABLE[usize::from(b)]);
    }
    src.len().min(out.len())
}

/// Code points to UTF-8 to binary code in one pass. Surrogates were rejected by
/// `utf8_len`; were one to arrive here it would be written as its 3-byte form. Returns
/// the slots written.
fn encode_units_into(units: impl Iterator<Item = u32>, out: &mut [MaybeUninit<Slot>]) -> usize {
    let mut pos = 0usize;
    for c in units {
        let (bytes, n) = utf8_bytes(c);
        let dst = match out.get_mut(pos..pos + n) {
            Some(dst) => dst,
            None => break,
        };
        for (slot, &b) in dst.iter_mut().zip(&bytes) {
            slot.write(TABLE[usize::from(b)]);
        }
        pos += n;
    }
    pos
}

#[inline(always)]
fn utf8_bytes(c: u32) -> ([u8; 4], usize) {
    // `as u8` keeps the low bits on purpose: each arm masks or shifts first.
    if c < 0x80 {
        ([c as u8, 0, 0, 0], 1)
    } else if c < 0x800 {
        ([0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8, 0, 0], 2)
    } else if c < 0x1_0000 {
        (
            [
                0xE0 | (c >> 12) as u8,
                0x80 | ((c >> 6) & 0x3F) as u8,
                0x80 | (c & 0x3F) as u8,
                0,
            ],
            3,
        )
    } else {
        (
            [
                0xF0 | ((c >> 18) & 0x07) as u8,
                0x80 | ((c >> 12) & 0x3F) as u8,
                0x80 | ((c >> 6) & 0x3F) as u8,
                0x80 | (c & 0x3F) as u8,
            ],
            4,
        )
    }
}
