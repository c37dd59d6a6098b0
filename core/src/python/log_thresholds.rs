//! `LogThresholds`: threshold windows of log rules (`crate::thresholds`).

use std::sync::Mutex;

use arrow_array::Array;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3_arrow::PyArray;

use super::arrow::{batch_out, threshold_changes_batch, timestamps_us, uint32, utf8};
use super::settings::{rule_items, ThresholdRuleSpec};
use super::window::{self, Window};
use crate::thresholds::{ThresholdChange, ThresholdEngine, ThresholdSpec};

/// Threshold windows of log rules, fed with their events.
#[pyclass(module = "opsengine._core", name = "LogThresholds")]
pub struct LogThresholds {
    inner: Mutex<ThresholdEngine>,
    names: Vec<String>,
}

impl Window for LogThresholds {
    type Engine = ThresholdEngine;

    fn cell(&self) -> &Mutex<ThresholdEngine> {
        &self.inner
    }

    fn changes<'py>(
        &self,
        py: Python<'py>,
        changes: &[ThresholdChange],
    ) -> PyResult<Bound<'py, PyAny>> {
        batch_out(py, threshold_changes_batch(&self.names, changes)?)
    }
}

#[pymethods]
impl LogThresholds {
    /// `rules`: `ThresholdRuleSpec` dicts in rule order.
    #[new]
    fn new(rules: &Bound<'_, PyList>) -> PyResult<Self> {
        let rules = rule_items::<ThresholdRuleSpec>(rules, "rules")?;
        let names = rules.iter().map(|r| r.name.clone()).collect();
        let specs = rules
            .into_iter()
            .map(|r| ThresholdSpec {
                name: r.name,
                count: r.count,
                within_ms: (r.within_seconds * 1000.0).round() as i64,
            })
            .collect();
        let engine = ThresholdEngine::new(specs).map_err(PyValueError::new_err)?;
        Ok(LogThresholds {
            inner: Mutex::new(engine),
            names,
        })
    }

    /// Feed events: `rule_index` (uint32, position in the rule list), `ts`
    /// (timestamp[us]) and `key` (utf8) arrays of one length; null timestamps are skipped.
    /// Returns the changes: ts, rule, key, state (firing|resolved), count, active_since,
    /// fired_at, resolved_at.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        rule_index: PyArray,
        ts: PyArray,
        key: PyArray,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rules = uint32(&rule_index, "rule_index")?;
        let ts = timestamps_us(&ts, "ts")?;
        let keys = utf8(&key, "key")?;
        if rules.len() != ts.len() || keys.len() != ts.len() {
            return Err(PyValueError::new_err(
                "rule_index, ts and key must have one length",
            ));
        }
        let changes = py
            .detach(|| {
                let events = (0..ts.len())
                    .filter(|&i| ts.is_valid(i) && rules.is_valid(i))
                    .map(|i| {
                        let k = if keys.is_valid(i) { keys.value(i) } else { "" };
                        (
                            rules.value(i) as usize,
                            ts.value(i).div_euclid(1000),
                            k.to_string(),
                        )
                    });
                self.engine().ingest(events)
            })
            .map_err(PyValueError::new_err)?;
        self.changes(py, &changes)
    }

    /// Resolve what went quiet by `ts_us` (time passing without events).
    fn advance_to<'py>(&self, py: Python<'py>, ts_us: i64) -> PyResult<Bound<'py, PyAny>> {
        window::advance_to(self, py, ts_us)
    }

    /// The windows as JSON.
    fn save_state(&self) -> String {
        window::save_state(self)
    }

    /// Restore a saved state; ValueError when it is damaged.
    fn restore_state(&self, state: &str) -> PyResult<()> {
        window::restore_state(self, state)
    }

    /// Keys (rule, key) with a live window.
    fn key_count(&self) -> usize {
        self.engine().key_count()
    }
}
