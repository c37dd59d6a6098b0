//! The PyO3 module `opsengine._core`: argument conversion only. Arrow comes
//! in through the PyCapsule interface (pyarrow, polars, DuckDB, arro3 alike)
//! and goes out as pyarrow objects; the work runs with the GIL released.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyRecordBatch;

use crate::arrow_io;
use crate::header::ParseOptions;
use crate::matcher::{self, RuleSpec};
use crate::templates::{MinerSettings, TemplateMiner};

/// A compiled log-rule set.
#[pyclass(module = "opsengine._core", name = "RuleMatcher", frozen)]
struct RuleMatcher {
    inner: Arc<matcher::RuleSet>,
}

fn lines_to_chunks(lines: AnyArray) -> PyResult<Vec<arrow_array::ArrayRef>> {
    let chunked = lines.into_chunked_array()?;
    let (chunks, field) = chunked.into_inner();
    if !arrow_io::is_text_type(field.data_type()) {
        return Err(PyTypeError::new_err(format!(
            "lines must be a string or binary array, got {}",
            field.data_type()
        )));
    }
    Ok(chunks)
}

#[pymethods]
impl RuleMatcher {
    /// Compile `rules`: a list of (name, pattern, literal, ignore_case).
    #[new]
    fn new(py: Python<'_>, rules: Vec<(String, String, bool, bool)>) -> PyResult<Self> {
        let specs: Vec<RuleSpec> = rules
            .into_iter()
            .map(|(name, pattern, literal, ignore_case)| RuleSpec {
                name,
                pattern,
                literal,
                ignore_case,
            })
            .collect();
        let compiled = py
            .detach(|| matcher::RuleSet::compile(&specs))
            .map_err(|e| {
                let err = PyValueError::new_err(e.to_string());
                if let Some(i) = e.rule_index {
                    // Lets the caller map the error back to its file and line.
                    let _ = err.value(py).setattr("rule_index", i);
                }
                err
            })?;
        Ok(RuleMatcher {
            inner: Arc::new(compiled),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.names().map(str::to_string).collect()
    }

    #[getter]
    fn capture_columns(&self) -> Vec<String> {
        self.inner.columns().to_vec()
    }

    /// How the rules were compiled: counts and the rules checked on every line.
    fn plan<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = self.inner.plan();
        let d = PyDict::new(py);
        d.set_item("rules", p.rules)?;
        d.set_item("prefiltered_rules", p.prefiltered_rules)?;
        d.set_item("always_checked_rules", p.always_checked_rules)?;
        d.set_item("literals", p.literals)?;
        Ok(d)
    }

    /// Match lines; returns a pyarrow RecordBatch (row, rule, captures…).
    #[pyo3(signature = (lines, *, threads = 0))]
    fn match_lines<'py>(
        &self,
        py: Python<'py>,
        lines: AnyArray,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let chunks = lines_to_chunks(lines)?;
        let rules = self.inner.clone();
        let batch = py
            .detach(|| {
                let m = arrow_io::match_chunks(&rules, &chunks, threads)?;
                arrow_io::matches_to_batch(&rules, m)
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyRecordBatch::new(batch).into_pyarrow(py)
    }

    /// Count matching lines per rule; returns a list in rule order.
    #[pyo3(signature = (lines, *, threads = 0))]
    fn count_lines(&self, py: Python<'_>, lines: AnyArray, threads: usize) -> PyResult<Vec<u64>> {
        let chunks = lines_to_chunks(lines)?;
        let rules = self.inner.clone();
        let counts = py
            .detach(|| arrow_io::count_chunks(&rules, &chunks, threads))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(counts.0)
    }
}

/// Parse log headers: one row per line (ts, host, app, pid, level, message, format).
#[pyfunction]
#[pyo3(signature = (lines, *, reference_ts_us = None, utc_offset_secs = 0, threads = 0))]
fn parse_headers<'py>(
    py: Python<'py>,
    lines: AnyArray,
    reference_ts_us: Option<i64>,
    utc_offset_secs: i32,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let chunks = lines_to_chunks(lines)?;
    let mut opts = match reference_ts_us {
        Some(r) => ParseOptions::new(r),
        None => ParseOptions::now(),
    };
    opts.utc_offset_secs = utc_offset_secs;
    let batch = py
        .detach(|| arrow_io::parse_headers(&chunks, &opts, threads))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyRecordBatch::new(batch).into_pyarrow(py)
}

/// A streaming log-template miner (see `templates.rs`).
#[pyclass(module = "opsengine._core", name = "TemplateMiner")]
struct PyTemplateMiner {
    inner: Mutex<TemplateMiner>,
}

fn lock(m: &Mutex<TemplateMiner>) -> std::sync::MutexGuard<'_, TemplateMiner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[pymethods]
impl PyTemplateMiner {
    /// `settings_json`: a JSON object of MinerSettings fields (missing ones take defaults).
    #[new]
    #[pyo3(signature = (settings_json = None))]
    fn new(settings_json: Option<&str>) -> PyResult<Self> {
        let settings: MinerSettings = match settings_json {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| PyValueError::new_err(format!("template miner settings: {e}")))?,
            None => MinerSettings::default(),
        };
        Ok(PyTemplateMiner {
            inner: Mutex::new(TemplateMiner::new(settings)),
        })
    }

    /// The default settings as a JSON object.
    #[staticmethod]
    fn default_settings_json() -> String {
        serde_json::to_string(&MinerSettings::default()).unwrap_or_default()
    }

    fn settings_json(&self) -> String {
        serde_json::to_string(lock(&self.inner).settings()).unwrap_or_default()
    }

    fn __len__(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Mine lines in order; returns a pyarrow RecordBatch with `template_id`
    /// (uint32) and `is_new` (bool), one row per line (nulls for null lines).
    fn mine<'py>(&self, py: Python<'py>, lines: AnyArray) -> PyResult<Bound<'py, PyAny>> {
        let chunks = lines_to_chunks(lines)?;
        let (ids, new) = py
            .detach(|| {
                let mut miner = lock(&self.inner);
                arrow_io::mine_chunks(&mut miner, &chunks)
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("template_id", arrow_schema::DataType::UInt32, true),
            arrow_schema::Field::new("is_new", arrow_schema::DataType::Boolean, true),
        ]));
        let batch = arrow_array::RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(new)])
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyRecordBatch::new(batch).into_pyarrow(py)
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RuleMatcher>()?;
    m.add_class::<PyTemplateMiner>()?;
    m.add_function(wrap_pyfunction!(parse_headers, m)?)?;
    m.add("MAX_RULES", matcher::MAX_RULES)?;
    m.add("MIN_LITERAL_LEN", matcher::MIN_LITERAL_LEN)?;
    crate::bindings_metrics::register(m)?;
    crate::bindings_thresholds::register(m)?;
    Ok(())
}
