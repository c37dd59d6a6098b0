//! `RuleMatcher`: a compiled log-rule set (`crate::matcher`).

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::input::AnyArray;

use super::arrow::{batch_out, text_chunks};
use super::settings::{rule_items, LogRuleSpec};
use crate::arrow_io;
use crate::matcher::{self, RuleSpec};

/// A compiled log-rule set.
#[pyclass(module = "opsengine._core", name = "RuleMatcher", frozen)]
pub struct RuleMatcher {
    inner: Arc<matcher::RuleSet>,
}

#[pymethods]
impl RuleMatcher {
    /// Compile `rules`: a list of `LogRuleSpec` dicts in rule order.
    #[new]
    fn new(py: Python<'_>, rules: &Bound<'_, PyList>) -> PyResult<Self> {
        let specs: Vec<RuleSpec> = rule_items::<LogRuleSpec>(rules, "rules")?
            .into_iter()
            .map(|r| RuleSpec {
                name: r.name,
                pattern: r.pattern,
                literal: r.literal,
                ignore_case: r.ignore_case,
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
        let chunks = text_chunks(lines)?;
        let rules = self.inner.clone();
        let batch = py
            .detach(|| {
                let m = arrow_io::match_chunks(&rules, &chunks, threads)?;
                arrow_io::matches_to_batch(&rules, m)
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        batch_out(py, batch)
    }

    /// Count matching lines per rule; returns a list in rule order.
    #[pyo3(signature = (lines, *, threads = 0))]
    fn count_lines(&self, py: Python<'_>, lines: AnyArray, threads: usize) -> PyResult<Vec<u64>> {
        let chunks = text_chunks(lines)?;
        let rules = self.inner.clone();
        let counts = py
            .detach(|| arrow_io::count_chunks(&rules, &chunks, threads))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(counts.0)
    }
}
