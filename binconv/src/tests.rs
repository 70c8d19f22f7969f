//! Unit tests of the pure-Rust kernel (no Python involved).

use std::mem::MaybeUninit;

use crate::decode::{decode, find_invalid, pack_bytes, DecodeError};
use crate::encode::{Slot, Surrogates, Text, TABLE};

fn naive(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:08b}")).collect()
}

/// `len` output slots preset to `########`, so a test sees which ones were written.
fn preset(len: usize) -> Vec<MaybeUninit<Slot>> {
    vec![MaybeUninit::new([b'#'; 8]); len]
}

/// The characters of slots that `preset` made.
fn chars(out: &[MaybeUninit<Slot>]) -> String {
    out.iter()
        // SAFETY: `preset` initialised every slot, and the kernel only writes whole slots.
        .flat_map(|slot| unsafe { slot.assume_init() })
        .map(char::from)
        .collect()
}

fn encode(text: Text<'_>) -> Result<String, Surrogates> {
    let len = text.utf8_len()?;
    let mut out = preset(len);
    assert_eq!(text.encode_into(&mut out), len);
    Ok(chars(&out))
}

/// The same text in every representation CPython may hold it in.
fn representations(s: &str) -> Vec<(&'static str, Vec<u32>)> {
    let cps: Vec<u32> = s.chars().map(u32::from).collect();
    let mut reps = vec![("ucs4", cps.clone())];
    if cps.iter().all(|&c| c < 0x1_0000) {
        reps.push(("ucs2", cps.clone()));
    }
    if cps.iter().all(|&c| c < 0x100) {
        reps.push(("latin1", cps));
    }
    reps
}

fn encode_as(kind: &str, cps: &[u32]) -> Result<String, Surrogates> {
    match kind {
        "ucs4" => encode(Text::Ucs4(cps)),
        "ucs2" => {
            let units: Vec<u16> = cps.iter().map(|&c| c as u16).collect();
            encode(Text::Ucs2(&units))
        }
        _ => {
            let units: Vec<u8> = cps.iter().map(|&c| c as u8).collect();
            encode(Text::Latin1(&units))
        }
    }
}

#[test]
fn table_is_each_byte_in_binary_msb_first() {
    for b in 0..=255u8 {
        assert_eq!(TABLE[usize::from(b)], *format!("{b:08b}").as_bytes());
    }
}

#[test]
fn encodes_the_architecture_examples() {
    assert_eq!(
        encode(Text::Bytes(b"hello")).unwrap(),
        "0110100001100101011011000110110001101111"
    );
    assert_eq!(encode(Text::Latin1(&[0xE9])).unwrap(), "1100001110101001");
    assert_eq!(encode(Text::Bytes(b"A")).unwrap(), "01000001");
    assert_eq!(encode(Text::Bytes(b"")).unwrap(), "");
}

#[test]
fn every_representation_gives_the_code_of_the_utf8_bytes() {
    let samples = [
        "",
        "\0",
        "plain ascii",
        "café naïve ÿ",
        "Grüße, Привет, 你好 \u{FFFF}",
        "e\u{301} combining, emoji 🙂👍🏽, max \u{10FFFF}",
    ];
    for s in samples {
        for (kind, cps) in representations(s) {
            assert_eq!(
                encode_as(kind, &cps).unwrap(),
                naive(s.as_bytes()),
                "{kind} {s:?}"
            );
        }
    }
}

#[test]
fn every_scalar_value_encodes_like_std_utf8() {
    let all: String = (0..=0x10_FFFFu32).filter_map(char::from_u32).collect();
    let cps: Vec<u32> = all.chars().map(u32::from).collect();
    assert_eq!(Text::Ucs4(&cps).utf8_len(), Ok(all.len()));
    assert!(encode(Text::Ucs4(&cps)).unwrap() == naive(all.as_bytes()));
}

#[test]
fn lone_surrogates_are_reported_as_one_run() {
    let units = [0x61u16, 0xD800, 0xDFFF, 0x62, 0xD801];
    assert_eq!(
        Text::Ucs2(&units).utf8_len(),
        Err(Surrogates { start: 1, end: 3 })
    );
    let tail = [0x1F642u32, 0xDC00];
    assert_eq!(
        Text::Ucs4(&tail).utf8_len(),
        Err(Surrogates { start: 1, end: 2 })
    );
}

#[test]
fn a_short_output_buffer_is_filled_without_panicking() {
    let cps: Vec<u32> = "é🙂".chars().map(u32::from).collect();
    let mut out = preset(3);
    // 'é' fits in two slots, '🙂' (four) does not: only whole characters are written.
    assert_eq!(Text::Ucs4(&cps).encode_into(&mut out), 2);
    assert_eq!(chars(&out), naive("é".as_bytes()) + "########");
    assert_eq!(Text::Bytes(b"abc").encode_into(&mut []), 0);
    let mut two = preset(2);
    assert_eq!(Text::Bytes(b"abc").encode_into(&mut two), 2);
    assert_eq!(chars(&two), naive(b"ab"));
}

#[test]
fn decode_inverts_encode() {
    for s in ["", "\0", "hello", "Grüße 你好 🙂", "e\u{301}"] {
        assert_eq!(decode(naive(s.as_bytes()).as_bytes()).unwrap(), s);
    }
}

#[test]
fn pack_matches_every_byte() {
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(pack_bytes(naive(&all).as_bytes()), all);
}

#[test]
fn decode_reports_the_first_invalid_character() {
    assert_eq!(find_invalid(b"0101"), None);
    assert_eq!(find_invalid(b"01010101012"), Some(10));
    assert_eq!(find_invalid(b"0101x1010"), Some(4));
    assert_eq!(find_invalid(b"01/"), Some(2));
    assert_eq!(
        decode(b"0100000101000 01"),
        Err(DecodeError::InvalidChar { position: 13 })
    );
}

#[test]
fn decode_checks_characters_before_length() {
    assert_eq!(
        decode(b"01a"),
        Err(DecodeError::InvalidChar { position: 2 })
    );
    assert_eq!(
        decode(b"0100000101"),
        Err(DecodeError::BadLength { len: 10 })
    );
}

#[test]
fn decode_rejects_bytes_that_are_not_utf8() {
    let bad = naive(b"ab\xFFc");
    assert_eq!(
        decode(bad.as_bytes()),
        Err(DecodeError::NotUtf8 {
            byte: 2,
            truncated: false
        })
    );
    let truncated = naive(b"a\xE2\x82");
    assert_eq!(
        decode(truncated.as_bytes()),
        Err(DecodeError::NotUtf8 {
            byte: 1,
            truncated: true
        })
    );
}

#[test]
fn error_messages_give_position_and_reason() {
    assert_eq!(
        DecodeError::BadLength { len: 10 }.to_string(),
        "binary code length 10 is not a multiple of 8: \
         the last byte, from position 8, has only 2 bits"
    );
    assert_eq!(
        DecodeError::NotUtf8 {
            byte: 2,
            truncated: false
        }
        .to_string(),
        "binary code is not UTF-8: invalid byte sequence at position 16 (byte 2)"
    );
}

#[test]
fn the_vector_loop_matches_the_table_at_every_length_and_offset() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
    for start in 0..9 {
        for len in 0..(data.len() - start) {
            let src = &data[start..start + len];
            let mut out = preset(len);
            assert_eq!(Text::Bytes(src).encode_into(&mut out), len);
            assert_eq!(chars(&out), naive(src));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn each_vector_loop_matches_the_table_where_the_cpu_has_it() {
    type Loop = unsafe fn(&[u8], &mut [MaybeUninit<Slot>]) -> usize;
    let mut loops: Vec<Loop> = Vec::new();
    if std::arch::is_x86_feature_detected!("avx2") {
        loops.push(crate::simd::encode_avx2);
    }
    if std::arch::is_x86_feature_detected!("avx512bw") {
        loops.push(crate::simd::encode_avx512);
    }
    let data: Vec<u8> = (0..=255).chain(0..=255u8).rev().collect();
    for vector_loop in loops {
        for len in 0..data.len() {
            let mut out = preset(len);
            // SAFETY: the feature was detected above.
            let done = unsafe { vector_loop(&data[..len], &mut out) };
            assert_eq!(done, len & !7);
            assert_eq!(chars(&out[..done]), naive(&data[..done]));
            assert!(
                chars(&out[done..]).bytes().all(|c| c == b'#'),
                "wrote past {done}"
            );
        }
    }
}
