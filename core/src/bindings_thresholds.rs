//! PyO3 bindings of the log-rule threshold windows (`thresholds.rs`): argument conversion
//! only; the work runs with the GIL released.

use std::sync::{Arc, Mutex};

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch, TimestampMicrosecondArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::{PyArray, PyRecordBatch};

use crate::thresholds::{ThresholdChange, ThresholdEngine, ThresholdSpec};

/// Threshold windows of log rules, fed with their events.
#[pyclass(module = "opsengine._core", name = "LogThresholds")]
struct LogThresholds {
    inner: Mutex<ThresholdEngine>,
    names: Vec<String>,
}

impl LogThresholds {
    fn engine(&self) -> std::sync::MutexGuard<'_, ThresholdEngine> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn batch<'py>(
        &self,
        py: Python<'py>,
        changes: &[ThresholdChange],
    ) -> PyResult<Bound<'py, PyAny>> {
        let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts_type.clone(), false),
            Field::new("rule", DataType::Utf8, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("count", DataType::UInt64, false),
            Field::new("active_since", ts_type.clone(), false),
            Field::new("fired_at", ts_type.clone(), false),
            Field::new("resolved_at", ts_type, true),
        ]));
        let ts = |f: &dyn Fn(&ThresholdChange) -> Option<i64>| {
            Arc::new(
                TimestampMicrosecondArray::from(
                    changes
                        .iter()
                        .map(|c| f(c).map(|ms| ms.saturating_mul(1000)))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            )
        };
        let (mut rule, mut key, mut state) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for c in changes {
            rule.append_value(&self.names[c.rule]);
            key.append_value(&c.key);
            state.append_value(if c.firing { "firing" } else { "resolved" });
        }
        let batch = RecordBatch::try_new(
            schema,
            vec![
                ts(&|c| Some(c.ts_ms)),
                Arc::new(rule.finish()),
                Arc::new(key.finish()),
                Arc::new(state.finish()),
                Arc::new(UInt64Array::from(
                    changes.iter().map(|c| c.count as u64).collect::<Vec<_>>(),
                )),
                ts(&|c| Some(c.active_since_ms)),
                ts(&|c| Some(c.fired_at_ms)),
                ts(&|c| c.resolved_at_ms),
            ],
        )
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyRecordBatch::new(batch).into_pyarrow(py)
    }
}

#[pymethods]
impl LogThresholds {
    /// `rules`: (name, count, within_seconds) in rule order.
    #[new]
    fn new(rules: Vec<(String, usize, f64)>) -> PyResult<Self> {
        let names = rules.iter().map(|r| r.0.clone()).collect();
        let specs = rules
            .into_iter()
            .map(|(name, count, within)| ThresholdSpec {
                name,
                count,
                within_ms: (within * 1000.0).round() as i64,
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
        let rules = rule_index
            .array()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| PyValueError::new_err("rule_index: expected uint32"))?
            .clone();
        let ts = match ts.array().data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => ts
                .array()
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            other => {
                return Err(PyValueError::new_err(format!(
                    "ts: expected timestamp[us], got {other}"
                )))
            }
        };
        let keys = match key.array().data_type() {
            DataType::Utf8 => key.array().as_string::<i32>().clone(),
            other => {
                return Err(PyValueError::new_err(format!(
                    "key: expected utf8, got {other}"
                )))
            }
        };
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
        self.batch(py, &changes)
    }

    /// Resolve what went quiet by `ts_us` (time passing without events).
    fn advance_to<'py>(&self, py: Python<'py>, ts_us: i64) -> PyResult<Bound<'py, PyAny>> {
        let changes = py.detach(|| self.engine().advance_to(ts_us.div_euclid(1000)));
        self.batch(py, &changes)
    }

    fn save_state(&self) -> String {
        self.engine().save_state()
    }

    fn restore_state(&self, state: &str) -> PyResult<()> {
        self.engine()
            .restore_state(state)
            .map_err(PyValueError::new_err)
    }

    /// Keys (rule, key) with a live window.
    fn key_count(&self) -> usize {
        self.engine().key_count()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LogThresholds>()
}
