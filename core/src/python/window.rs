//! What the stateful windows exposed to Python (`MetricEvaluator`, `LogThresholds`) share:
//! an engine behind a mutex, time that advances without new input, and a state saved as
//! JSON and restored from it. Each binding implements [`Window`]; its `advance_to`,
//! `save_state` and `restore_state` methods are the one-line calls to the helpers here.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::metrics::{AlertChange, MetricEngine};
use crate::thresholds::{ThresholdChange, ThresholdEngine};

/// An engine whose windows move with event time.
pub trait WindowEngine: Send {
    type Change: Send;
    /// Evaluate up to `ms` (epoch milliseconds) without new input.
    fn advance_to(&mut self, ms: i64) -> Vec<Self::Change>;
    fn save_state(&self) -> String;
    fn restore_state(&mut self, json: &str) -> Result<(), String>;
}

impl WindowEngine for MetricEngine {
    type Change = AlertChange;
    fn advance_to(&mut self, ms: i64) -> Vec<AlertChange> {
        MetricEngine::advance_to(self, ms)
    }
    fn save_state(&self) -> String {
        MetricEngine::save_state(self)
    }
    fn restore_state(&mut self, json: &str) -> Result<(), String> {
        MetricEngine::restore_state(self, json)
    }
}

impl WindowEngine for ThresholdEngine {
    type Change = ThresholdChange;
    fn advance_to(&mut self, ms: i64) -> Vec<ThresholdChange> {
        ThresholdEngine::advance_to(self, ms)
    }
    fn save_state(&self) -> String {
        ThresholdEngine::save_state(self)
    }
    fn restore_state(&mut self, json: &str) -> Result<(), String> {
        ThresholdEngine::restore_state(self, json)
    }
}

/// A Python class around a [`WindowEngine`].
pub trait Window: Sync {
    type Engine: WindowEngine;
    fn cell(&self) -> &Mutex<Self::Engine>;
    /// The changes as the class returns them (a pyarrow RecordBatch).
    fn changes<'py>(
        &self,
        py: Python<'py>,
        changes: &[<Self::Engine as WindowEngine>::Change],
    ) -> PyResult<Bound<'py, PyAny>>;

    /// The engine; a panic in another thread does not lock it for good.
    fn engine(&self) -> MutexGuard<'_, Self::Engine> {
        self.cell().lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `advance_to(ts_us)`: the changes of time passing to `ts_us` (µs), GIL released.
pub fn advance_to<'py, W: Window>(
    w: &W,
    py: Python<'py>,
    ts_us: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let changes = py.detach(|| w.engine().advance_to(ts_us.div_euclid(1000)));
    w.changes(py, &changes)
}

/// `save_state()`: the state as JSON.
pub fn save_state<W: Window>(w: &W) -> String {
    w.engine().save_state()
}

/// `restore_state(state)`: ValueError when the state is damaged.
pub fn restore_state<W: Window>(w: &W, state: &str) -> PyResult<()> {
    w.engine()
        .restore_state(state)
        .map_err(PyValueError::new_err)
}
