//! CPython `str` storage, the only unsafe code of the glue: reading an input's
//! characters where they lie, and writing a new output's before Python can see it.

use std::mem::MaybeUninit;

use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyStringData};
use pyo3::{ffi, AsPyPointer};

use crate::encode::{Slot, Text};

/// A new compact ASCII `str` whose characters are not written yet. Its buffer is borrowed
/// from this value, which owns the only reference to the object, so the buffer cannot
/// outlive it; Python sees the object only through `finish`, which checks that every
/// character was written.
pub struct Unfilled<'py> {
    py: Python<'py>,
    obj: PyObject,
    len: usize,
}

impl<'py> Unfilled<'py> {
    /// A `str` of `len` characters. Inlined: when called, its result was reloaded as one
    /// 16-byte load of two 8-byte stores, which store forwarding cannot serve (+5 ns).
    #[inline(always)]
    pub fn new(py: Python<'py>, len: usize) -> PyResult<Self> {
        let size = isize::try_from(len).map_err(|_| too_large())?;
        // SAFETY: the GIL is held (`py`); PyUnicode_New returns a new reference or NULL
        // with an exception set.
        let obj = unsafe { ffi::PyUnicode_New(size, 127) };
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `obj` is a new, non-NULL reference, handed to the `PyObject`.
        let obj = unsafe { PyObject::from_owned_ptr(py, obj) };
        Ok(Self { py, obj, len })
    }

    /// A `str` for the code of `slots` bytes, 8 characters each.
    pub fn code(py: Python<'py>, slots: usize) -> PyResult<Self> {
        Self::new(py, slots.checked_mul(8).ok_or_else(too_large)?)
    }

    /// The characters, uninitialised until written.
    pub fn buffer(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: PyUnicode_New(len, 127) made a compact ASCII str, whose `len` one-byte
        // characters follow its header (PyUnicode_DATA). Nothing else reaches them: the
        // object is not yet visible to Python, and `&mut self` is the only borrow, for as
        // long as the slice lives. MaybeUninit because PyUnicode_New leaves them unset.
        unsafe {
            let data = ffi::PyUnicode_DATA(self.obj.as_ptr()).cast::<MaybeUninit<u8>>();
            std::slice::from_raw_parts_mut(data, self.len)
        }
    }

    /// The characters as 8-character slots (a code's length is a multiple of 8).
    pub fn slots(&mut self) -> &mut [MaybeUninit<Slot>] {
        let chars = self.buffer();
        let slots = chars.len() / 8;
        // SAFETY: `Slot` is `[u8; 8]` (size 8, alignment 1), so `slots` slots span the
        // first 8 * slots characters of the same exclusive borrow.
        unsafe { std::slice::from_raw_parts_mut(chars.as_mut_ptr().cast(), slots) }
    }

    /// The `str`, once `written` characters were written: fewer than all is a kernel bug,
    /// and a panic, rather than a `str` whose characters Python would read uninitialised.
    pub fn finish(self, written: usize) -> PyObject {
        assert_eq!(written, self.len, "the kernel left part of a str unwritten");
        debug_assert!(is_consistent(self.py, &self.obj));
        debug_assert!(self.is_code());
        self.obj
    }

    /// Whether every character is `0` or `1` (checked in debug builds).
    fn is_code(&self) -> bool {
        // SAFETY: all `len` characters were written (`finish` checked it first); the
        // shared slice ends with this borrow.
        let chars = unsafe {
            let data = ffi::PyUnicode_DATA(self.obj.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts(data, self.len)
        };
        chars.iter().all(|&c| matches!(c, b'0' | b'1'))
    }
}

fn too_large() -> PyErr {
    PyMemoryError::new_err("output too large")
}

/// Whether `obj` is a `str` CPython itself accepts: `_PyUnicode_CheckConsistency(obj, 1)`,
/// which CPython 3.11 exports in release builds too (every Python PyO3 0.17 supports);
/// it checks the header flags against the kind, the length and the terminating NUL, and
/// the characters against the declared maximum. It aborts with a dump of the object
/// instead of returning false. Called from `debug_assert!` only, as orjson does.
pub fn is_consistent(_py: Python<'_>, obj: &PyObject) -> bool {
    // SAFETY: the GIL is held (`_py`) and `obj` is a live `str`.
    unsafe { ffi::_PyUnicode_CheckConsistency(obj.as_ptr(), 1) == 1 }
}

/// The string as CPython stores it, without copying or encoding it.
pub fn text_of(s: &PyString) -> PyResult<Text<'_>> {
    // SAFETY: `data` canonicalises legacy strings first and reads the PEP 393 bitfield
    // as little-endian targets lay it out, the only ones this project builds for (PyO3's
    // own caveat); the slices borrow `s`, which keeps the str alive.
    let data = unsafe { s.data()? };
    // SAFETY: `s` is a live `str` (canonical after `data`), read with the GIL held.
    let ascii = unsafe { ffi::PyUnicode_IS_ASCII(s.as_ptr()) } != 0;
    Ok(match data {
        PyStringData::Ucs1(b) if ascii => Text::Bytes(b),
        PyStringData::Ucs1(b) => Text::Latin1(b),
        PyStringData::Ucs2(u) => Text::Ucs2(u),
        PyStringData::Ucs4(u) => Text::Ucs4(u),
    })
}
