//! The PyO3 module `opsengine._core` (feature `python`): argument conversion only, one file
//! per exposed type or function. Arrow crosses through one layer ([`arrow`]): in through
//! the PyCapsule interface (pyarrow, polars, DuckDB, arro3 alike), out as pyarrow objects.
//! The work runs with the GIL released. `python/opsengine/_core.pyi` is the typed contract.

mod arrow;
mod exposition;
mod headers;
mod log_thresholds;
mod metric_evaluator;
mod rule_matcher;
mod series_ids;
mod settings;
mod template_miner;
mod window;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<rule_matcher::RuleMatcher>()?;
    m.add_class::<template_miner::PyTemplateMiner>()?;
    m.add_class::<metric_evaluator::MetricEvaluator>()?;
    m.add_class::<log_thresholds::LogThresholds>()?;
    m.add_function(wrap_pyfunction!(headers::parse_headers, m)?)?;
    m.add_function(wrap_pyfunction!(exposition::parse_exposition, m)?)?;
    m.add_function(wrap_pyfunction!(series_ids::series_ids, m)?)?;
    m.add("MAX_RULES", crate::matcher::MAX_RULES)?;
    m.add("MIN_LITERAL_LEN", crate::matcher::MIN_LITERAL_LEN)?;
    Ok(())
}
