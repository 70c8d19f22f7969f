use pyo3::prelude::*;

#[pyfunction]
fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:08b}")).collect()
}

#[pymodule]
fn _binconv(_py: Python<'_>, m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    Ok(())
}
