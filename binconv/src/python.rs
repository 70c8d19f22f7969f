//! The CPython glue: argument checks, the output string, the GIL. No conversion logic.
//!
//! Every output is a compact ASCII `str` made by `PyUnicode_New` and filled in place by
//! the kernel: the code is written once, into its final object, so one call uses the
//! output plus a small constant. Large inputs are converted with the GIL released; that
//! is sound because `str`/`bytes` are immutable, each input is kept alive by the
//! caller's reference (or the list items' references held by this call), and no Python
//! code can see an output before it is filled.

use pyo3::exceptions::{PyUnicodeEncodeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyStringData};
use pyo3::{ffi, AsPyPointer};

use crate::decode::{decode as decode_code, invalid_char_message, DecodeError};
use crate::encode::{encode_bytes_into, Slot, Text};

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

/// A new ASCII `str` of `len` characters, not yet written, and its buffer.
///
/// # Safety
/// The caller must fill the whole buffer with ASCII before the `str` reaches Python,
/// and must not use the buffer after dropping the object.
unsafe fn new_ascii<'a>(py: Python<'_>, len: usize) -> PyResult<(PyObject, &'a mut [u8])> {
    let size = isize::try_from(len)
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("output too large"))?;
    let obj = ffi::PyUnicode_New(size, 127);
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // Compact ASCII: the characters follow the header (PyUnicode_DATA).
    let data = ffi::PyUnicode_DATA(obj).cast::<u8>();
    Ok((
        PyObject::from_owned_ptr(py, obj),
        std::slice::from_raw_parts_mut(data, len),
    ))
}

/// A new output `str` for `slots` input bytes, seen as 8-character slots.
fn new_code<'a>(py: Python<'_>, slots: usize) -> PyResult<(PyObject, &'a mut [Slot])> {
    let len = slots
        .checked_mul(8)
        .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("output too large"))?;
    // SAFETY: every caller fills all `slots` slots (the kernel writes exactly
    // `utf8_len` slots) before returning the object.
    let (obj, buf) = unsafe { new_ascii(py, len)? };
    let slots_buf =
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<Slot>(), slots) };
    Ok((obj, slots_buf))
}

/// The string as CPython stores it, without copying or encoding it.
fn text_of(s: &PyString) -> PyResult<Text<'_>> {
    // SAFETY: `data` canonicalises legacy strings first; little-endian targets only,
    // which is what this project builds for (PyO3's own caveat).
    let data = unsafe { s.data()? };
    let ascii = unsafe { ffi::PyUnicode_IS_ASCII(s.as_ptr()) } != 0;
    Ok(match data {
        PyStringData::Ucs1(b) if ascii => Text::Bytes(b),
        PyStringData::Ucs1(b) => Text::Latin1(b),
        PyStringData::Ucs2(u) => Text::Ucs2(u),
        PyStringData::Ucs4(u) => Text::Ucs4(u),
    })
}

/// Measures `text`, allocates its output and returns both, or CPython's own
/// `UnicodeEncodeError` for lone surrogates (same arguments as `str.encode`).
fn prepare<'s, 'o>(
    py: Python<'_>,
    text: &'s PyString,
) -> PyResult<(Text<'s>, usize, PyObject, &'o mut [Slot])> {
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
    let (obj, out) = new_code(py, len)?;
    Ok((src, len, obj, out))
}

/// The binary code of `text`'s UTF-8 bytes: eight '0'/'1' per byte, most significant
/// bit first. Raises UnicodeEncodeError (a ValueError) for lone surrogates.
#[pyfunction]
#[pyo3(text_signature = "(text)")]
pub fn encode(py: Python<'_>, text: &PyString) -> PyResult<PyObject> {
    let (src, len, obj, out) = prepare(py, text)?;
    convert(py, len, move || src.encode_into(out));
    Ok(obj)
}

/// The binary code of raw bytes: eight '0'/'1' per byte, most significant bit first.
#[pyfunction]
#[pyo3(text_signature = "(data)")]
pub fn encode_bytes(py: Python<'_>, data: &[u8]) -> PyResult<PyObject> {
    let (obj, out) = new_code(py, data.len())?;
    convert(py, data.len(), move || encode_bytes_into(data, out));
    Ok(obj)
}

/// `[encode(t) for t in texts]` in one call, the GIL released once for a large batch.
#[pyfunction]
#[pyo3(text_signature = "(texts)")]
pub fn encode_many(py: Python<'_>, texts: &PyList) -> PyResult<PyObject> {
    let mut outputs = Vec::with_capacity(texts.len());
    let mut jobs = Vec::with_capacity(texts.len());
    let mut total = 0usize;
    // Items come back as owned references held until this call returns, so they stay
    // alive even if another thread empties the list while the GIL is released.
    for item in texts.iter() {
        let text: &PyString = item.downcast()?;
        let (src, len, obj, out) = prepare(py, text)?;
        total = total.saturating_add(len);
        outputs.push(obj);
        jobs.push((src, out));
    }
    convert(py, total, move || {
        for (src, out) in jobs {
            src.encode_into(out);
        }
    });
    Ok(PyList::new(py, outputs).into())
}

/// The text whose binary code is `code`. Raises ValueError naming the position and the
/// reason: a character other than '0'/'1', a length that is not a multiple of 8, or
/// bytes that are not UTF-8.
#[pyfunction]
#[pyo3(text_signature = "(code)")]
pub fn decode(py: Python<'_>, code: &PyString) -> PyResult<PyObject> {
    let data = unsafe { code.data()? };
    let ascii = unsafe { ffi::PyUnicode_IS_ASCII(code.as_ptr()) } != 0;
    let bytes = match data {
        PyStringData::Ucs1(b) if ascii => b,
        // A non-ASCII character is never '0' or '1': report the first one that isn't.
        PyStringData::Ucs1(b) => return Err(invalid_char(code, first_non_bit(b))),
        PyStringData::Ucs2(u) => return Err(invalid_char(code, first_non_bit(u))),
        PyStringData::Ucs4(u) => return Err(invalid_char(code, first_non_bit(u))),
    };
    match convert(py, bytes.len() / 8, || decode_code(bytes)) {
        Ok(text) => Ok(PyString::new(py, &text).into()),
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
    // SAFETY: the buffer is filled entirely below.
    let (obj, buf) = unsafe { new_ascii(py, n)? };
    convert(py, n / 8, move || buf.fill(b'0'));
    Ok(obj)
}
