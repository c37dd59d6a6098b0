//! `parse_headers`: log headers of a string array (`crate::header`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;

use super::arrow::{batch_out, text_chunks};
use crate::arrow_io;
use crate::header::ParseOptions;

/// Parse log headers: one row per line (ts, host, app, pid, level, message, format).
#[pyfunction]
#[pyo3(signature = (lines, *, reference_ts_us = None, utc_offset_secs = 0, threads = 0))]
pub fn parse_headers<'py>(
    py: Python<'py>,
    lines: AnyArray,
    reference_ts_us: Option<i64>,
    utc_offset_secs: i32,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let chunks = text_chunks(lines)?;
    let mut opts = match reference_ts_us {
        Some(r) => ParseOptions::new(r),
        None => ParseOptions::now(),
    };
    opts.utc_offset_secs = utc_offset_secs;
    let batch = py
        .detach(|| arrow_io::parse_headers(&chunks, &opts, threads))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    batch_out(py, batch)
}
