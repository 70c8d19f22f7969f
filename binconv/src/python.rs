//! The CPython glue: argument checks, the output string, the GIL. No conversion logic.
//!
//! Every output is a compact ASCII `str` made by `PyUnicode_New` and filled in place by
//! the kernel: the code is written once, into its final object, so one call uses the
//! output plus a small constant. Large inputs are converted with the GIL released; that
//! is sound because `str`/`bytes` are immutable, each input is kept alive by the
//! caller's reference (or the list items' references held by this call), and no Python
//! code can see an output before it is filled.
//!
//! The unsafe parts (a new `str`'s buffer, an input's storage) are in `pystr`; this
//! module may write none (`deny(unsafe_code)`). It allows `unsafe_op_in_unsafe_fn` only
//! because PyO3 0.17's `#[pyfunction]` expands to `unsafe extern "C"` wrappers that call
//! unsafe functions without a block of their own, spanned at these functions' arguments.
#![allow(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]

use std::mem::MaybeUninit;

use pyo3::exceptions::{PyUnicodeEncodeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::decode::{decode as decode_code, invalid_char_message, DecodeError};
use crate::encode::{encode_bytes_into, Text};
use crate::pystr::{is_consistent, text_of, Unfilled};

/// From this many input bytes on, the GIL is released while converting; below, taking
/// it back costs more than the other threads would gain.
const GIL_RELEASE_BYTES: usize = 16 * 1024;

/// Runs `work` with the GIL released when `input_bytes` is large.
fn convert<T: Send>(py: Python<'_>, input_bytes: usize, work: impl FnOnce() -> T + Send) -> T {
    if input_bytes >= GIL_RELEASE_BYTES {
        py.allow_threads(work)
    } else {
        work()
    }
}

/// Measures `text` and allocates its output, or raises CPython's own
/// `UnicodeEncodeError` for lone surrogates (same arguments as `str.encode`).
fn prepare<'py>(py: Python<'py>, text: &'py PyString) -> PyResult<(Text<'py>, Unfilled<'py>)> {
    let src = text_of(text)?;
    let len = src.utf8_len().map_err(|run| {
        PyUnicodeEncodeError::new_err((
            "utf-8",
            PyObject::from(text),
            run.start,
            run.end,
            "surrogates not allowed",
        ))
    })?;
    Ok((src, Unfilled::code(py, len)?))
}

/// The binary code of `text`'s UTF-8 bytes: eight '0'/'1' per byte, most significant
/// bit first. Raises UnicodeEncodeError (a ValueError) for lone surrogates.
#[pyfunction]
#[pyo3(text_signature = "(text)")]
pub fn encode<'py>(py: Python<'py>, text: &'py PyString) -> PyResult<PyObject> {
    let (src, mut out) = prepare(py, text)?;
    let slots = out.slots();
    let written = convert(py, slots.len(), move || src.encode_into(slots));
    Ok(out.finish(8 * written))
}

/// The binary code of raw bytes: eight '0'/'1' per byte, most significant bit first.
#[pyfunction]
#[pyo3(text_signature = "(data)")]
pub fn encode_bytes(py: Python<'_>, data: &[u8]) -> PyResult<PyObject> {
    let mut out = Unfilled::code(py, data.len())?;
    let slots = out.slots();
    let written = convert(py, data.len(), move || encode_bytes_into(data, slots));
    Ok(out.finish(8 * written))
}

/// `[encode(t) for t in texts]` in one call, the GIL released once for a large batch.
#[pyfunction]
#[pyo3(text_signature = "(texts)")]
pub fn encode_many<'py>(py: Python<'py>, texts: &'py PyList) -> PyResult<PyObject> {
    let mut pending = Vec::with_capacity(texts.len());
    // Items come back as owned references held until this call returns, so they stay
    // alive even if another thread empties the list while the GIL is released.
    for item in texts.iter() {
        pending.push(prepare(py, item.downcast()?)?);
    }
    let jobs: Vec<_> = pending
        .iter_mut()
        .map(|(src, out)| (*src, out.slots()))
        .collect();
    let total = jobs
        .iter()
        .fold(0usize, |sum, (_, slots)| sum.saturating_add(slots.len()));
    let written: Vec<usize> = convert(py, total, move || {
        jobs.into_iter()
            .map(|(src, slots)| src.encode_into(slots))
            .collect()
    });
    let outputs = pending
        .into_iter()
        .zip(written)
        .map(|((_, out), written)| out.finish(8 * written));
    Ok(PyList::new(py, outputs).into())
}

/// The text whose binary code is `code`. Raises ValueError naming the position and the
/// reason: a character other than '0'/'1', a length that is not a multiple of 8, or
/// bytes that are not UTF-8.
#[pyfunction]
#[pyo3(text_signature = "(code)")]
pub fn decode(py: Python<'_>, code: &PyString) -> PyResult<PyObject> {
    let bytes = match text_of(code)? {
        Text::Bytes(b) => b,
        // A non-ASCII character is never '0' or '1': report the first one that isn't.
        Text::Latin1(b) => return Err(invalid_char(code, first_non_bit(b))),
        Text::Ucs2(u) => return Err(invalid_char(code, first_non_bit(u))),
        Text::Ucs4(u) => return Err(invalid_char(code, first_non_bit(u))),
    };
    match convert(py, bytes.len() / 8, || decode_code(bytes)) {
        Ok(text) => {
            let text: PyObject = PyString::new(py, &text).into();
            debug_assert!(is_consistent(py, &text));
            Ok(text)
        }
        Err(DecodeError::InvalidChar { position }) => Err(invalid_char(code, position)),
        Err(e) => Err(PyValueError::new_err(e.to_string())),
    }
}

fn first_non_bit<T: Copy + Into<u32>>(units: &[T]) -> usize {
    units
        .iter()
        .position(|&u| !matches!(u.into(), 0x30 | 0x31))
        .unwrap_or(0)
}

fn invalid_char(code: &PyString, position: usize) -> PyErr {
    let repr = code
        .get_item(position)
        .and_then(|c| c.repr())
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".to_owned());
    PyValueError::new_err(invalid_char_message(&repr, position))
}

/// The physical limit the benchmark compares against: a new str of `n` characters
/// written with memset, the same allocation and GIL rule as `encode` (private).
#[pyfunction]
#[pyo3(name = "_fill_limit", text_signature = "(n)")]
pub fn fill_limit(py: Python<'_>, n: usize) -> PyResult<PyObject> {
    let mut out = Unfilled::new(py, n)?;
    let chars = out.buffer();
    convert(py, n / 8, move || chars.fill(MaybeUninit::new(b'0')));
    Ok(out.finish(n))
}
