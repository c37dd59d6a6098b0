//! Typed settings across the boundary. What Python passes as a `TypedDict` (see
//! `python/opsengine/_core.pyi`) arrives here as a struct; a missing key or a bad value is a
//! ValueError naming the list item, the rule and the key (`rules[2] 'disk_full': key
//! 'within_seconds': must be real number, not str`), with `rule_index` set so that the
//! caller can point at the rule's file and line.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::templates::MinerSettings;

/// One log rule of a `RuleMatcher` (TypedDict `LogRuleSpec`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct LogRuleSpec {
    pub name: String,
    pub pattern: String,
    pub literal: bool,
    pub ignore_case: bool,
}

/// One rule of a `MetricEvaluator` (TypedDict `MetricRuleSpec`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct MetricRuleSpec {
    pub name: String,
    pub expr: String,
    pub for_seconds: f64,
    pub keep_firing_for_seconds: f64,
}

/// One rule of `LogThresholds` (TypedDict `ThresholdRuleSpec`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct ThresholdRuleSpec {
    pub name: String,
    pub count: usize,
    pub within_seconds: f64,
}

/// The message of an extraction error and of its causes, without Python's type prefix:
/// `failed to extract field ThresholdRuleSpec.count` becomes `key 'count'`.
fn describe(py: Python<'_>, err: &PyErr) -> String {
    let mut parts = Vec::new();
    let mut cur = Some(err.clone_ref(py));
    while let Some(e) = cur {
        let text = e.value(py).to_string();
        let text = match text.strip_prefix("failed to extract field ") {
            Some(field) => format!("key '{}'", field.rsplit('.').next().unwrap_or(field)),
            None => text,
        };
        parts.push(text);
        cur = e.cause(py);
    }
    parts.join(": ")
}

/// Each item of `list` as a `T`; errors name the item (and its `name` key when it has one).
pub fn rule_items<'py, T: FromPyObjectOwned<'py>>(
    list: &Bound<'py, PyList>,
    what: &str,
) -> PyResult<Vec<T>> {
    let py = list.py();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match item.extract::<T>() {
            Ok(v) => out.push(v),
            Err(e) => {
                let e: PyErr = e.into();
                let name = item
                    .get_item("name")
                    .ok()
                    .and_then(|n| n.extract::<String>().ok())
                    .map(|n| format!(" '{n}'"))
                    .unwrap_or_default();
                let err = PyValueError::new_err(format!("{what}[{i}]{name}: {}", describe(py, &e)));
                let _ = err.value(py).setattr("rule_index", i);
                return Err(err);
            }
        }
    }
    Ok(out)
}

/// A dict value as a `T`.
fn value<'py, T: FromPyObjectOwned<'py>>(v: &Bound<'py, PyAny>) -> PyResult<T> {
    v.extract::<T>().map_err(Into::into)
}

/// Calls the macro `$m` with the name of every miner setting (the key is the field's name).
macro_rules! miner_settings_fields {
    ($m:ident) => {
        $m!(
            depth,
            sim_threshold,
            max_children,
            max_templates,
            warmup_lines,
            mask_variables,
            cache_capacity,
            max_line_bytes,
            max_tokens,
            protect_after,
            split_words,
            variable_keys
        )
    };
}

/// Miner settings from a dict (TypedDict `MinerSettings`, every key optional): missing keys
/// keep their defaults; an unknown key or a bad value is a ValueError naming the key.
pub fn miner_settings(d: Option<&Bound<'_, PyDict>>) -> PyResult<MinerSettings> {
    let mut s = MinerSettings::default();
    let Some(d) = d else { return Ok(s) };
    let py = d.py();
    for (k, v) in d.iter() {
        let key: String = k
            .extract()
            .map_err(|_| PyValueError::new_err("template miner settings: keys must be strings"))?;
        let bad = |e: PyErr| {
            PyValueError::new_err(format!(
                "template miner setting '{key}': {}",
                describe(py, &e)
            ))
        };
        macro_rules! set {
            ($($f:ident),*) => {
                match key.as_str() {
                    $(stringify!($f) => s.$f = value(&v).map_err(&bad)?,)*
                    _ => {
                        let known = [$(stringify!($f)),*];
                        return Err(PyValueError::new_err(format!(
                            "unknown template miner setting '{key}' (known: {})",
                            known.join(", ")
                        )));
                    }
                }
            };
        }
        miner_settings_fields!(set);
    }
    Ok(s)
}

/// Miner settings as a dict (TypedDict `MinerSettings`, every key present).
pub fn miner_settings_dict<'py>(
    py: Python<'py>,
    s: &MinerSettings,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    macro_rules! put {
        ($($f:ident),*) => { $(d.set_item(stringify!($f), &s.$f)?;)* };
    }
    miner_settings_fields!(put);
    Ok(d)
}
