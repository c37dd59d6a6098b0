//! The one conversion layer between Python's Arrow objects and the engines' `arrow` types:
//! inputs are checked for their type here (an error names the argument), outputs leave as
//! pyarrow objects. The engines see `arrow` arrays only.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{
    Array, ArrayRef, BooleanArray, MapArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3_arrow::input::{AnyArray, AnyRecordBatch};
use pyo3_arrow::{PyArray, PyRecordBatch};

use crate::arrow_io;
use crate::thresholds::ThresholdChange;

/// A string or binary array or chunked array (any of the text types), as its chunks.
pub fn text_chunks(lines: AnyArray) -> PyResult<Vec<ArrayRef>> {
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

/// Every batch of a RecordBatch, Table or stream, read with the GIL held (a Python-backed
/// stream may need it).
pub fn record_batches(input: AnyRecordBatch) -> PyResult<Vec<RecordBatch>> {
    input
        .into_reader()?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A utf8 column (`what` names the argument); an all-null column reads as nulls.
pub fn utf8(a: &PyArray, what: &str) -> PyResult<StringArray> {
    match a.array().data_type() {
        DataType::Utf8 => Ok(a.array().as_string::<i32>().clone()),
        DataType::Null => Ok(StringArray::new_null(a.array().len())),
        other => Err(PyValueError::new_err(format!(
            "{what}: expected utf8 strings, got {other}"
        ))),
    }
}

/// A map<string, string> column, or None for an all-null one.
pub fn string_map(a: &PyArray, what: &str) -> PyResult<Option<MapArray>> {
    match a.array().data_type() {
        DataType::Map(_, _) => Ok(Some(a.array().as_map().clone())),
        DataType::Null => Ok(None),
        other => Err(PyValueError::new_err(format!(
            "{what}: expected map<string, string>, got {other}"
        ))),
    }
}

/// A timestamp[us] column (any zone).
pub fn timestamps_us(a: &PyArray, what: &str) -> PyResult<TimestampMicrosecondArray> {
    match a.array().data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Ok(a.array().as_primitive::<TimestampMicrosecondType>().clone())
        }
        other => Err(PyValueError::new_err(format!(
            "{what}: expected timestamp[us], got {other}"
        ))),
    }
}

/// A uint32 column.
pub fn uint32(a: &PyArray, what: &str) -> PyResult<UInt32Array> {
    a.array()
        .as_any()
        .downcast_ref::<UInt32Array>()
        .cloned()
        .ok_or_else(|| PyValueError::new_err(format!("{what}: expected uint32")))
}

/// A RecordBatch out as a pyarrow RecordBatch.
pub fn batch_out<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    PyRecordBatch::new(batch).into_pyarrow(py)
}

/// An array out as a pyarrow array.
pub fn array_out<'py>(py: Python<'py>, array: ArrayRef) -> PyResult<Bound<'py, PyAny>> {
    let array = PyArray::from_array_ref(array);
    py.import("pyarrow")?
        .getattr("array")?
        .call1((array.into_pyobject(py)?,))
}

/// The miner's answer for a batch: `template_id` (uint32) and `is_new` (bool) per line.
pub fn template_ids_batch(ids: UInt32Array, new: BooleanArray) -> PyResult<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("template_id", DataType::UInt32, true),
        Field::new("is_new", DataType::Boolean, true),
    ]));
    RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(new)])
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Threshold changes as a batch: ts, rule, key, state (firing|resolved), count,
/// active_since, fired_at, resolved_at.
pub fn threshold_changes_batch(
    names: &[String],
    changes: &[ThresholdChange],
) -> PyResult<RecordBatch> {
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
        rule.append_value(&names[c.rule]);
        key.append_value(&c.key);
        state.append_value(if c.firing { "firing" } else { "resolved" });
    }
    RecordBatch::try_new(
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
    .map_err(|e| PyValueError::new_err(e.to_string()))
}
