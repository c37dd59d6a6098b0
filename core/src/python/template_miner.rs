//! `TemplateMiner`: the streaming log-template miner (`crate::templates`).

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_arrow::input::AnyArray;

use super::arrow::{batch_out, template_ids_batch, text_chunks};
use super::settings::{miner_settings, miner_settings_dict};
use crate::arrow_io;
use crate::templates::{MinerSettings, TemplateMiner};

/// A streaming log-template miner.
#[pyclass(module = "opsengine._core", name = "TemplateMiner")]
pub struct PyTemplateMiner {
    inner: Mutex<TemplateMiner>,
}

fn lock(m: &Mutex<TemplateMiner>) -> std::sync::MutexGuard<'_, TemplateMiner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[pymethods]
impl PyTemplateMiner {
    /// `settings`: a `MinerSettings` dict; missing keys take their defaults.
    #[new]
    #[pyo3(signature = (settings = None))]
    fn new(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(PyTemplateMiner {
            inner: Mutex::new(TemplateMiner::new(miner_settings(settings)?)),
        })
    }

    /// The default settings, every key present.
    #[staticmethod]
    fn default_settings(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        miner_settings_dict(py, &MinerSettings::default())
    }

    /// This miner's settings, every key present.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        miner_settings_dict(py, lock(&self.inner).settings())
    }

    fn __len__(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Mine lines in order; returns a pyarrow RecordBatch with `template_id`
    /// (uint32) and `is_new` (bool), one row per line (nulls for null lines).
    fn mine<'py>(&self, py: Python<'py>, lines: AnyArray) -> PyResult<Bound<'py, PyAny>> {
        let chunks = text_chunks(lines)?;
        let (ids, new) = py
            .detach(|| {
                let mut miner = lock(&self.inner);
                arrow_io::mine_chunks(&mut miner, &chunks)
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        batch_out(py, template_ids_batch(ids, new)?)
    }

    /// (ids, texts, counts) of every template, in id order.
    fn templates(&self) -> (Vec<u32>, Vec<String>, Vec<u64>) {
        let all = lock(&self.inner).templates();
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for t in all {
            out.0.push(t.id);
            out.1.push(t.text);
            out.2.push(t.count);
        }
        out
    }

    fn save<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = lock(&self.inner).save();
        PyBytes::new(py, &bytes)
    }

    #[staticmethod]
    fn load(state: &[u8]) -> PyResult<Self> {
        let miner = TemplateMiner::load(state)
            .map_err(|e| PyValueError::new_err(format!("template miner state: {e}")))?;
        Ok(PyTemplateMiner {
            inner: Mutex::new(miner),
        })
    }
}
