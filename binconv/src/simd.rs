//! The AVX2 form of the byte loop: eight input bytes become 64 output bytes with one
//! broadcast, two byte shuffles and two 32-byte stores, close to a plain memset.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use crate::encode::Slot;

/// Encodes the longest multiple of 8 bytes of `src` that fits `out` and returns how many
/// bytes it did; the caller finishes the tail.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn encode_avx2(src: &[u8], out: &mut [MaybeUninit<Slot>]) -> usize {
    let n = src.len().min(out.len()) & !7;
    // Within each 128-bit lane, output byte j of input byte k tests bit 7 - j of k:
    // the shuffles copy input byte k into the 8 output positions of its slot.
    let spread_low = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let spread_high = _mm256_setr_epi8(
        4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, //
        6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7,
    );
    let bits = _mm256_set1_epi64x(i64::from_le_bytes([
        0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01,
    ]));
    let zeros = _mm256_set1_epi8(b'0' as i8);
    let src_ptr = src.as_ptr();
    let out_ptr = out.as_mut_ptr().cast::<u8>();
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= src.len(): the 8 bytes read are inside `src`.
        let word = unsafe { src_ptr.add(i).cast::<i64>().read_unaligned() };
        let v = _mm256_set1_epi64x(word);
        for (half, spread) in [spread_low, spread_high].into_iter().enumerate() {
            let spread = _mm256_shuffle_epi8(v, spread);
            let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
            // '0' - (-1) is '1' where the bit is set.
            let chars = _mm256_sub_epi8(zeros, set);
            // SAFETY: 8 * i + 32 * half + 32 <= 8 * (i + 8) <= 8 * n <= 8 * out.len(), the
            // bytes `out` spans; an unaligned store, and `out` is borrowed mutably.
            unsafe {
                _mm256_storeu_si256(out_ptr.add(8 * i + 32 * half).cast::<__m256i>(), chars);
            }
        }
        i += 8;
    }
    n
}

/// The AVX-512 form: 64 output bytes per input word with one shuffle, one bit test and
/// one masked blend, half the instructions of the AVX2 loop.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn encode_avx512(src: &[u8], out: &mut [MaybeUninit<Slot>]) -> usize {
    let n = src.len().min(out.len()) & !7;
    // Lane l (16 bytes) of the broadcast word holds its 8 bytes twice; output bytes
    // 16l..16l+7 come from input byte 2l, 16l+8..16l+15 from byte 2l + 1.
    let spread = _mm512_set_epi64(
        0x0707_0707_0707_0707,
        0x0606_0606_0606_0606,
        0x0505_0505_0505_0505,
        0x0404_0404_0404_0404,
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0x0000_0000_0000_0000,
    );
    let bits = _mm512_set1_epi64(i64::from_le_bytes([
        0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01,
    ]));
    let zeros = _mm512_set1_epi8(b'0' as i8);
    let ones = _mm512_set1_epi8(b'1' as i8);
    let src_ptr = src.as_ptr();
    let out_ptr = out.as_mut_ptr().cast::<u8>();
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= src.len(): the 8 bytes read are inside `src`.
        let word = unsafe { src_ptr.add(i).cast::<i64>().read_unaligned() };
        let spread = _mm512_shuffle_epi8(_mm512_set1_epi64(word), spread);
        let set = _mm512_test_epi8_mask(spread, bits);
        let chars = _mm512_mask_blend_epi8(set, zeros, ones);
        // SAFETY: 8 * i + 64 <= 8 * n <= 8 * out.len(), the bytes `out` spans; an
        // unaligned store, and `out` is borrowed mutably.
        unsafe { _mm512_storeu_si512(out_ptr.add(8 * i).cast(), chars) };
        i += 8;
    }
    n
}
