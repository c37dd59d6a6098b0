//! PyO3 bindings of the metrics side of the core: the Prometheus exposition parser and the
//! metric-rule evaluator. Argument conversion only; the work runs with the GIL released.

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::{PyArray, PyRecordBatch};

use crate::metrics::samples::{alert_changes_batch, exposition_batch};
use crate::metrics::{AlertChange, MetricEngine, RuleSpec, Settings};
use crate::series_id;

/// Parse Prometheus text exposition into a metrics RecordBatch.
#[pyfunction]
#[pyo3(signature = (text, *, default_ts_us, host = None))]
fn parse_exposition<'py>(
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
    PyRecordBatch::new(batch).into_pyarrow(py)
}

/// Metric rules compiled into one streaming evaluator.
#[pyclass(module = "opsengine._core", name = "MetricEvaluator")]
struct MetricEvaluator {
    inner: Mutex<MetricEngine>,
    names: Vec<String>,
}

fn seconds_to_ms(what: &str, s: f64) -> PyResult<i64> {
    if !s.is_finite() || !(0.0..=1e11).contains(&s) {
        return Err(PyValueError::new_err(format!(
            "{what}: {s} is not a valid duration"
        )));
    }
    Ok((s * 1000.0).round() as i64)
}

impl MetricEvaluator {
    fn engine(&self) -> std::sync::MutexGuard<'_, MetricEngine> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changes<'py>(
        &self,
        py: Python<'py>,
        changes: &[AlertChange],
    ) -> PyResult<Bound<'py, PyAny>> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        PyRecordBatch::new(alert_changes_batch(&names, changes)).into_pyarrow(py)
    }
}

#[pymethods]
impl MetricEvaluator {
    /// `rules`: (name, expr, for_seconds, keep_firing_for_seconds) in rule order.
    #[new]
    #[pyo3(signature = (rules, *, step_seconds = 60.0, lookback_seconds = 300.0))]
    fn new(
        py: Python<'_>,
        rules: Vec<(String, String, f64, f64)>,
        step_seconds: f64,
        lookback_seconds: f64,
    ) -> PyResult<Self> {
        let mut specs = Vec::with_capacity(rules.len());
        for (name, expr, for_s, keep_s) in rules {
            specs.push(RuleSpec {
                for_ms: seconds_to_ms(&format!("rule '{name}': for"), for_s)?,
                keep_firing_for_ms: seconds_to_ms(
                    &format!("rule '{name}': keep_firing_for"),
                    keep_s,
                )?,
                name,
                expr,
            });
        }
        let settings = Settings {
            step_ms: seconds_to_ms("step", step_seconds)?,
            lookback_ms: seconds_to_ms("lookback", lookback_seconds)?,
        };
        let names = specs.iter().map(|s| s.name.clone()).collect();
        let engine = py
            .detach(|| MetricEngine::new(&specs, settings))
            .map_err(|e| {
                let err = PyValueError::new_err(e.message.clone());
                if e.rule < specs.len() {
                    let _ = err.value(py).setattr("rule_index", e.rule);
                }
                err
            })?;
        Ok(MetricEvaluator {
            inner: Mutex::new(engine),
            names,
        })
    }

    fn __len__(&self) -> usize {
        self.names.len()
    }

    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Evaluation step and lookback, in seconds.
    #[getter]
    fn step_seconds(&self) -> f64 {
        self.engine().settings().step_ms as f64 / 1000.0
    }

    /// How much history (seconds) the rules read: what to reload after a restart.
    #[getter]
    fn history_seconds(&self) -> f64 {
        self.engine().history_needed_ms() as f64 / 1000.0
    }

    /// The last evaluated step in µs since the epoch, or None before the first.
    #[getter]
    fn last_evaluation_us(&self) -> Option<i64> {
        self.engine().last_evaluation().map(|ms| ms * 1000)
    }

    /// Whether any rule reads the metric `name`.
    fn reads_metric(&self, name: &str) -> bool {
        self.engine().reads_metric(name)
    }

    /// Take in samples (a RecordBatch, Table or stream with ts, host, name, labels, value)
    /// and return the alert changes of every step they complete.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        samples: AnyRecordBatch,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Read the stream with the GIL held: a Python-backed stream may need it.
        let batches = samples
            .into_reader()?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let changes = py
            .detach(|| {
                let mut engine = self.engine();
                let mut out = Vec::new();
                for b in &batches {
                    out.extend(engine.ingest(b)?);
                }
                Ok::<_, arrow_schema::ArrowError>(out)
            })
            .map_err(|e| PyValueError::new_err(format!("metric samples: {e}")))?;
        self.changes(py, &changes)
    }

    /// Evaluate the steps up to `ts_us` without new samples (time passing while sources
    /// are quiet); returns the alert changes.
    fn advance_to<'py>(&self, py: Python<'py>, ts_us: i64) -> PyResult<Bound<'py, PyAny>> {
        let changes = py.detach(|| self.engine().advance_to(ts_us.div_euclid(1000)));
        self.changes(py, &changes)
    }

    /// The alert state and evaluation clock as JSON.
    fn save_state(&self) -> String {
        self.engine().save_state()
    }

    /// Restore a saved state; ValueError when it is damaged.
    fn restore_state(&self, state: &str) -> PyResult<()> {
        self.engine()
            .restore_state(state)
            .map_err(PyValueError::new_err)
    }

    /// Counters: samples, unused, reordered, duplicates, too_old, invalid, series,
    /// evaluations, eval_errors.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.engine().stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("samples", s.samples),
            ("unused", s.unused),
            ("reordered", s.reordered),
            ("duplicates", s.duplicates),
            ("too_old", s.too_old),
            ("invalid", s.invalid),
            ("series", s.series),
            ("evaluations", s.evaluations),
            ("eval_errors", s.eval_errors),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// (rule, message) of each rule whose last evaluation failed.
    fn rule_errors(&self) -> Vec<(String, String)> {
        self.engine().rule_errors()
    }
}

/// Stable 64-bit series ids (see `series.rs`) for host, name and labels columns.
#[pyfunction]
fn series_ids<'py>(
    py: Python<'py>,
    host: PyArray,
    name: PyArray,
    labels: PyArray,
) -> PyResult<Bound<'py, PyAny>> {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, StringArray};
    use arrow_schema::DataType;
    let strings = |a: &PyArray, what: &str| -> PyResult<StringArray> {
        match a.array().data_type() {
            DataType::Utf8 => Ok(a.array().as_string::<i32>().clone()),
            DataType::Null => Ok(StringArray::new_null(a.array().len())),
            other => Err(PyValueError::new_err(format!(
                "{what}: expected utf8 strings, got {other}"
            ))),
        }
    };
    let host = strings(&host, "host")?;
    let name = strings(&name, "name")?;
    let labels = match labels.array().data_type() {
        DataType::Map(_, _) => Some(labels.array().as_map().clone()),
        DataType::Null => None,
        other => {
            return Err(PyValueError::new_err(format!(
                "labels: expected map<string, string>, got {other}"
            )))
        }
    };
    let ids = py
        .detach(|| series_id::series_ids(&host, &name, labels.as_ref()))
        .map_err(PyValueError::new_err)?;
    let ids = PyArray::from_array_ref(std::sync::Arc::new(ids));
    py.import("pyarrow")?
        .getattr("array")?
        .call1((ids.into_pyobject(py)?,))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MetricEvaluator>()?;
    m.add_function(wrap_pyfunction!(series_ids, m)?)?;
    m.add_function(wrap_pyfunction!(parse_exposition, m)?)?;
    Ok(())
}
