//! `series_ids`: stable 64-bit series ids (`crate::series_id`).

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::PyArray;

use super::arrow::{array_out, string_map, utf8};
use crate::series_id;

/// Stable 64-bit series ids (FNV-1a, see `series_id.rs`) for host, name and labels columns.
#[pyfunction]
pub fn series_ids<'py>(
    py: Python<'py>,
    host: PyArray,
    name: PyArray,
    labels: PyArray,
) -> PyResult<Bound<'py, PyAny>> {
    let host = utf8(&host, "host")?;
    let name = utf8(&name, "name")?;
    let labels = string_map(&labels, "labels")?;
    let ids = py
        .detach(|| series_id::series_ids(&host, &name, labels.as_ref()))
        .map_err(PyValueError::new_err)?;
    array_out(py, Arc::new(ids))
}
