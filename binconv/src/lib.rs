//! The conversion kernel: text to binary code (UTF-8 bytes, eight `0`/`1` each, most
//! significant bit first) and back.
//!
//! `encode` and `decode` are plain Rust, tested by `cargo test` without Python;
//! `python` is the PyO3 glue that builds the `binconv._binconv` extension module.
//!
//! Every `unsafe` operation sits in its own block with a `SAFETY:` comment, also inside
//! `unsafe fn`s; the two lints below make that a build error (`just lint`).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod decode;
pub mod encode;
mod pystr;
mod python;
#[cfg(target_arch = "x86_64")]
mod simd;

use pyo3::prelude::*;

#[pymodule]
fn _binconv(_py: Python<'_>, m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(python::encode, m)?)?;
    m.add_function(wrap_pyfunction!(python::encode_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(python::encode_many, m)?)?;
    m.add_function(wrap_pyfunction!(python::decode, m)?)?;
    m.add_function(wrap_pyfunction!(python::fill_limit, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests;
