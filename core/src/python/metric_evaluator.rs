//! `MetricEvaluator`: metric rules compiled into one streaming evaluator (`crate::metrics`).

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::input::AnyRecordBatch;

use super::arrow::{batch_out, record_batches};
use super::settings::{rule_items, MetricRuleSpec};
use super::window::{self, Window};
use crate::metrics::samples::alert_changes_batch;
use crate::metrics::{AlertChange, MetricEngine, RuleSpec, Settings};

/// Metric rules compiled into one streaming evaluator.
#[pyclass(module = "opsengine._core", name = "MetricEvaluator")]
pub struct MetricEvaluator {
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

impl Window for MetricEvaluator {
    type Engine = MetricEngine;

    fn cell(&self) -> &Mutex<MetricEngine> {
        &self.inner
    }

    fn changes<'py>(
        &self,
        py: Python<'py>,
        changes: &[AlertChange],
    ) -> PyResult<Bound<'py, PyAny>> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        batch_out(py, alert_changes_batch(&names, changes))
    }
}

#[pymethods]
impl MetricEvaluator {
    /// `rules`: `MetricRuleSpec` dicts in rule order.
    #[new]
    #[pyo3(signature = (rules, *, step_seconds = 60.0, lookback_seconds = 300.0))]
    fn new(
        py: Python<'_>,
        rules: &Bound<'_, PyList>,
        step_seconds: f64,
        lookback_seconds: f64,
    ) -> PyResult<Self> {
        let rules = rule_items::<MetricRuleSpec>(rules, "rules")?;
        let mut specs = Vec::with_capacity(rules.len());
        for r in rules {
            let name = r.name;
            specs.push(RuleSpec {
                for_ms: seconds_to_ms(&format!("rule '{name}': for"), r.for_seconds)?,
                keep_firing_for_ms: seconds_to_ms(
                    &format!("rule '{name}': keep_firing_for"),
                    r.keep_firing_for_seconds,
                )?,
                name,
                expr: r.expr,
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
        let batches = record_batches(samples)?;
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
        window::advance_to(self, py, ts_us)
    }

    /// The alert state and evaluation clock as JSON.
    fn save_state(&self) -> String {
        window::save_state(self)
    }

    /// Restore a saved state; ValueError when it is damaged.
    fn restore_state(&self, state: &str) -> PyResult<()> {
        window::restore_state(self, state)
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
