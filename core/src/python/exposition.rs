//! `parse_exposition`: Prometheus text exposition into a metrics batch (`crate::metrics::samples`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::arrow::batch_out;
use crate::metrics::samples::exposition_batch;

/// Parse Prometheus text exposition into a metrics RecordBatch.
#[pyfunction]
#[pyo3(signature = (text, *, default_ts_us, host = None))]
pub fn parse_exposition<'py>(
    py: Python<'py>,
    text: &str,
    default_ts_us: i64,
    host: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let batch = py
        .detach(|| exposition_batch(text, default_ts_us, host))
        .map_err(|e| {
            let err = PyValueError::new_err(e.to_string());
            // Lets the caller name the file and line.
            let _ = err.value(py).setattr("line", e.line);
            err
        })?;
    batch_out(py, batch)
}
