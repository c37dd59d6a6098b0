//! Streaming metric-rule evaluation, driven by the samples' own timestamps.
//!
//! The plan, in the order a batch meets it:
//!
//! 1. **Series ids** ([`series`]): each row's (name, host, labels) is hashed and interned to a
//!    dense id; rows whose metric no rule reads are skipped before any label set is built.
//!    A new series is tested once against the selectors of its metric name, so an
//!    evaluation reads the member list of each selector and never matches labels again.
//!    Dictionary-encoded names and hosts resolve once per key pair (a dense table, kept
//!    across batches that share the dictionaries, as batches cut from one table do), and
//!    dictionary-encoded labels through their label set's number and that table; other
//!    rows through a memo keyed by a cheap hash of their bytes as spelled. Batches of that
//!    shape (no nulls, rows in bucket order) go from the Arrow columns straight into the
//!    series in chunks, without a row buffer ([`MetricEngine::ingest`]).
//! 2. **Time buckets, not a sort**: evaluations run at fixed steps (`step_ms`, default
//!    1 minute, aligned to the epoch like Prometheus' evaluation interval). A step `t` is
//!    evaluated once a sample newer than `t` has been seen, so replaying a file gives the
//!    alerts the live engine gave. Rows go into the bucket of the first step that may read
//!    them; the engine inserts bucket k, evaluates step k, and so on. Rows in arrival order
//!    are read in place; only a batch whose buckets go back is reordered (a counting pass).
//!    Rows at or before the last evaluated step are late: they are kept for later steps.
//! 3. **Per-series buffers** ([`series::Buffer`]): samples in time order, trimmed to the
//!    longest range any rule reads; an out-of-order sample is placed in order, a second
//!    sample at the same timestamp is dropped (the first wins, as in Prometheus). A series
//!    read by instant selectors only keeps its newest sample. Series state is random
//!    access over the fleet, so the state of the rows (and series) a few ahead is hinted
//!    to the CPU while the current one is handled.
//! 4. **Evaluation** ([`eval`]) of each rule's expression ([`expr`]) at the step, then the
//!    alert state machine per series with Prometheus semantics: a new result is `pending`
//!    (or `firing` at once when `for` is 0); it fires once it held for `for`; a pending
//!    alert whose series drops out is reset (reported `resolved` without `fired_at`, so the
//!    stored instance is closed); a firing one resolves, or with `keep_firing_for` stays
//!    firing that long after its last result.
//!
//! Quiet stretches with no samples are skipped once every window is empty and every alert
//! has settled, so a replay over a gap of weeks costs nothing. The state (alerts, times)
//! saves as JSON; the sample buffers refill from the store after a restart.

mod engine;
pub mod eval;
pub mod expr;
pub mod samples;
pub mod series;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use series::LabelSet;

pub use engine::MetricEngine;

/// One metric rule as written in a rule file.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub name: String,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
}

/// Evaluation settings shared by all rules of an engine.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// Time between evaluations, aligned to the epoch.
    pub step_ms: i64,
    /// How far back an instant selector looks for a series' newest sample (Prometheus: 5m).
    pub lookback_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            step_ms: 60_000,
            lookback_ms: 300_000,
        }
    }
}

/// A rule that does not compile, with its index in the rule list.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileError {
    pub rule: usize,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert entering a state at evaluation time `ts_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChange {
    pub ts_ms: i64,
    pub rule: usize,
    pub state: AlertState,
    /// The result's labels without `__name__`, sorted.
    pub labels: Arc<LabelSet>,
    pub value: f64,
    pub active_since_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
}

/// Counters a caller can report.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub samples: u64,
    /// Samples of metrics that no rule reads.
    pub unused: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub too_old: u64,
    /// Rows without a timestamp, name or value.
    pub invalid: u64,
    pub series: u64,
    pub evaluations: u64,
    pub eval_errors: u64,
}

#[cfg(test)]
mod tests;
