//! The metrics Arrow schema (`ts`, `host`, `name`, `labels`, `value`), building batches of
//! it (from a Prometheus exposition), and reading any batch that carries those columns.
//!
//! Readers accept what producers actually hand over: `ts` as a timestamp of any unit or
//! int64 milliseconds, strings as `Utf8`, `LargeUtf8`, `Utf8View` or dictionary-encoded
//! strings, `labels` as `map<string, string>` (absent or null for no labels), `host` absent
//! or null when the sample has no host.

use std::sync::Arc;

use arrow_array::builder::{MapBuilder, MapFieldNames, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, Float64Array, MapArray, RecordBatch, TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::prom_text::{self, ParseError};

/// The label that carries the host column inside series label sets.
pub const HOST_LABEL: &str = "host";
/// The label that carries the metric name inside series label sets.
pub const NAME_LABEL: &str = "__name__";

fn map_field() -> Field {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    Field::new("labels", DataType::Map(Arc::new(entries), false), true)
}

/// `ts` timestamp[us, UTC], `host` utf8, `name` utf8, `labels` map<utf8, utf8>, `value` f64.
pub fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("host", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, false),
        map_field(),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// Collects samples into a batch of [`metrics_schema`].
pub struct SampleBuilder {
    ts: Vec<i64>,
    host: StringBuilder,
    name: StringBuilder,
    labels: MapBuilder<StringBuilder, StringBuilder>,
    value: Vec<f64>,
}

impl Default for SampleBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SampleBuilder {
    pub fn new() -> Self {
        let names = MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        };
        SampleBuilder {
            ts: Vec::new(),
            host: StringBuilder::new(),
            name: StringBuilder::new(),
            labels: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()),
            value: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// One sample; `ts_us` in microseconds since the epoch.
    pub fn push<'a>(
        &mut self,
        ts_us: i64,
        host: Option<&str>,
        name: &str,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        value: f64,
    ) {
        self.ts.push(ts_us);
        self.host.append_option(host);
        self.name.append_value(name);
        for (k, v) in labels {
            self.labels.keys().append_value(k);
            self.labels.values().append_value(v);
        }
        self.labels
            .append(true)
            .expect("keys and values appended in pairs");
        self.value.push(value);
    }

    pub fn finish(mut self) -> RecordBatch {
        let ts = TimestampMicrosecondArray::from(self.ts).with_timezone("UTC");
        let labels = self.labels.finish();
        // The builder names the map field after its own default; take the schema's.
        let labels = MapArray::try_new(
            match map_field().data_type() {
                DataType::Map(f, _) => f.clone(),
                _ => unreachable!("labels is a map"),
            },
            labels.offsets().clone(),
            labels.entries().clone(),
            labels.nulls().cloned(),
            false,
        )
        .expect("entries match the schema");
        RecordBatch::try_new(
            metrics_schema(),
            vec![
                Arc::new(ts),
                Arc::new(self.host.finish()),
                Arc::new(self.name.finish()),
                Arc::new(labels),
                Arc::new(Float64Array::from(self.value)),
            ],
        )
        .expect("columns match the metrics schema")
    }
}

/// Parse a Prometheus text exposition into a metrics batch.
///
/// Samples without a timestamp get `default_ts_us`. The host column is the sample's own
/// `host` label when it has one (moved out of `labels`), else `host`.
pub fn exposition_batch(
    text: &str,
    default_ts_us: i64,
    host: Option<&str>,
) -> Result<RecordBatch, ParseError> {
    let doc = prom_text::parse(text)?;
    let mut out = SampleBuilder::new();
    for s in &doc.samples {
        let ts_us = match s.timestamp_ms {
            Some(ms) => ms.checked_mul(1000).ok_or_else(|| ParseError {
                line: s.line,
                message: format!("'{}': timestamp {ms} is out of range", s.name),
            })?,
            None => default_ts_us,
        };
        let own_host = s
            .labels
            .iter()
            .find(|(k, _)| *k == HOST_LABEL)
            .map(|(_, v)| v.as_ref());
        let labels = s
            .labels
            .iter()
            .filter(|(k, _)| *k != HOST_LABEL)
            .map(|(k, v)| (*k, v.as_ref()));
        out.push(ts_us, own_host.or(host), s.name, labels, s.value);
    }
    Ok(out.finish())
}

/// Whether every key is in `0..n_values` (null slots included: a key under a null is
/// almost always 0; when it is not, the caller looks closer).
fn keys_in_range(keys: &[i32], n_values: usize) -> bool {
    // `0 <= k <= n - 1` as one sign test of `k | (n - 1 - k)`: plain SSE2 integer ops, which
    // the compiler vectorises on any x86-64 (an unsigned max needs SSE4.1).
    let Ok(last) = i32::try_from(n_values.min(i32::MAX as usize + 1).wrapping_sub(1)) else {
        return keys.is_empty();
    };
    keys.chunks(1024).all(|c| {
        c.iter()
            .fold(0i32, |acc, &k| acc | k | last.wrapping_sub(k))
            >= 0
    })
}

/// The keys of a dictionary column as value indices.
pub enum DictKeys {
    I32(ScalarBuffer<i32>),
    Wide(Vec<usize>),
}

impl DictKeys {
    #[inline]
    pub fn get(&self, i: usize) -> usize {
        match self {
            // Checked against the dictionary in `StrColumn::new` (arrays imported over the
            // C data interface are not validated on import).
            DictKeys::I32(k) => k[i] as usize,
            DictKeys::Wide(k) => k[i],
        }
    }
}

/// A string column of any of the accepted encodings.
pub enum StrColumn<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    /// Dictionary-encoded: normalised keys (with nulls) over a string column of values.
    Dict {
        keys: DictKeys,
        nulls: Option<NullBuffer>,
        values: Box<StrColumn<'a>>,
    },
    /// An all-null or absent column.
    Null,
}

impl<'a> StrColumn<'a> {
    pub fn new(array: &'a dyn Array, what: &str) -> Result<StrColumn<'a>, ArrowError> {
        StrColumn::with_used(array, what, 0..array.len(), &|i| format!("{what}: row {i}"))
    }

    /// A column of which only the slots `used` are read (the entries of a sliced map's
    /// rows: its children are not sliced with it), their dictionary keys checked; `place`
    /// names slot `i` in an error.
    pub fn with_used(
        array: &'a dyn Array,
        what: &str,
        used: std::ops::Range<usize>,
        place: &dyn Fn(usize) -> String,
    ) -> Result<StrColumn<'a>, ArrowError> {
        Ok(match array.data_type() {
            DataType::Utf8 => StrColumn::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => StrColumn::Large(array.as_string::<i64>()),
            DataType::Utf8View => StrColumn::View(array.as_string_view()),
            DataType::Null => StrColumn::Null,
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary_opt().ok_or_else(|| {
                    ArrowError::InvalidArgumentError(format!("{what}: bad dictionary"))
                })?;
                // Int32 keys (what pyarrow, polars and DuckDB hand over) are read in place;
                // other key types are widened once.
                let keys = match array.data_type() {
                    DataType::Dictionary(k, _) if k.as_ref() == &DataType::Int32 => {
                        DictKeys::I32(array.as_dictionary::<Int32Type>().keys().values().clone())
                    }
                    _ => DictKeys::Wide(dict.normalized_keys()),
                };
                // Keys that point past the dictionary (possible in arrays imported over the
                // C data interface, which arrow-rs does not validate) are an error here, not
                // a panic or another row's string later. Null slots may hold anything.
                let n_values = dict.values().len();
                let nulls = dict.keys().nulls();
                let bad = |i: usize, k: i128| {
                    (k < 0 || k >= n_values as i128) && nulls.is_none_or(|n| n.is_valid(i))
                };
                let found = match &keys {
                    DictKeys::I32(k) if keys_in_range(&k[used.clone()], n_values) => None,
                    DictKeys::I32(k) => used
                        .clone()
                        .find(|&i| bad(i, i128::from(k[i])))
                        .map(|i| (i, i128::from(k[i]))),
                    DictKeys::Wide(k) => used
                        .clone()
                        .find(|&i| bad(i, k[i] as i128))
                        .map(|i| (i, k[i] as i128)),
                };
                if let Some((slot, key)) = found {
                    return Err(ArrowError::InvalidArgumentError(format!(
                        "{}: dictionary key {key} is out of range ({n_values} values)",
                        place(slot)
                    )));
                }
                StrColumn::Dict {
                    keys,
                    nulls: dict.keys().nulls().cloned(),
                    values: Box::new(StrColumn::new(dict.values().as_ref(), what)?),
                }
            }
            other => {
                return Err(ArrowError::InvalidArgumentError(format!(
                    "{what}: expected strings, got {other}"
                )))
            }
        })
    }

    /// For a dictionary column, the number of its values.
    pub fn dict_len(&self) -> Option<usize> {
        match self {
            StrColumn::Dict { values, .. } => Some(match values.as_ref() {
                StrColumn::Utf8(a) => a.len(),
                StrColumn::Large(a) => a.len(),
                StrColumn::View(a) => a.len(),
                _ => 0,
            }),
            _ => None,
        }
    }

    /// For a dictionary column, the key of row `i` (None when null or not a dictionary).
    pub fn dict_key(&self, i: usize) -> Option<usize> {
        match self {
            StrColumn::Dict { keys, nulls, .. } => {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    None
                } else {
                    Some(keys.get(i))
                }
            }
            _ => None,
        }
    }

    /// For a dictionary column with 32-bit keys and no nulls (what pyarrow and polars hand
    /// over for categorical names and hosts), its keys as a slice.
    pub fn dense_keys(&self) -> Option<&[i32]> {
        match self {
            StrColumn::Dict {
                keys: DictKeys::I32(k),
                nulls: None,
                ..
            } => Some(k),
            _ => None,
        }
    }

    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Large(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::View(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Dict {
                keys,
                nulls,
                values,
            } => {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    None
                } else {
                    values.get(keys.get(i))
                }
            }
            StrColumn::Null => None,
        }
    }
}

/// Timestamps of any unit (or int64 milliseconds) as milliseconds; None for a null.
/// Read in place from the Arrow buffer: materialising a converted copy cost a fresh
/// 16 bytes per row (and its page faults) on every batch.
pub struct TsColumn {
    values: ScalarBuffer<i64>,
    nulls: Option<NullBuffer>,
    unit: TimeUnit,
}

impl TsColumn {
    pub fn new(array: &dyn Array) -> Result<TsColumn, ArrowError> {
        fn raw<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
            a: &dyn Array,
            unit: TimeUnit,
        ) -> TsColumn {
            let a = a.as_primitive::<T>();
            TsColumn {
                values: a.values().clone(),
                nulls: a.nulls().cloned(),
                unit,
            }
        }
        Ok(match array.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => {
                raw::<TimestampSecondType>(array, TimeUnit::Second)
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                raw::<TimestampMillisecondType>(array, TimeUnit::Millisecond)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                raw::<TimestampMicrosecondType>(array, TimeUnit::Microsecond)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                raw::<TimestampNanosecondType>(array, TimeUnit::Nanosecond)
            }
            DataType::Int64 => raw::<Int64Type>(array, TimeUnit::Millisecond),
            other => {
                return Err(ArrowError::InvalidArgumentError(format!(
                    "column 'ts': expected a timestamp, got {other}"
                )))
            }
        })
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            return None;
        }
        Some(to_ms(self.values[i], self.unit))
    }

    /// The raw values and their unit when no row is null.
    pub fn raw(&self) -> Option<(&[i64], TimeUnit)> {
        match self.nulls {
            Some(ref n) if n.null_count() > 0 => None,
            _ => Some((&self.values, self.unit)),
        }
    }
}

/// Timestamps in `unit` as milliseconds, `dst[i]` from `src[i]` (one dispatch on the unit
/// per slice, not per value).
pub fn to_ms_into(src: &[i64], unit: TimeUnit, dst: &mut [i64]) {
    let dst = &mut dst[..src.len()];
    match unit {
        TimeUnit::Second => dst
            .iter_mut()
            .zip(src)
            .for_each(|(d, &v)| *d = v.saturating_mul(1000)),
        TimeUnit::Millisecond => dst.copy_from_slice(src),
        TimeUnit::Microsecond => dst
            .iter_mut()
            .zip(src)
            .for_each(|(d, &v)| *d = v.div_euclid(1000)),
        TimeUnit::Nanosecond => dst
            .iter_mut()
            .zip(src)
            .for_each(|(d, &v)| *d = v.div_euclid(1_000_000)),
    }
}

/// A timestamp in `unit` as milliseconds (floored; monotonic, so the conversion of a
/// minimum is the minimum of the conversions).
#[inline(always)]
pub fn to_ms(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1000),
        TimeUnit::Millisecond => v,
        TimeUnit::Microsecond => v.div_euclid(1000),
        TimeUnit::Nanosecond => v.div_euclid(1_000_000),
    }
}

/// The columns of a metrics batch, ready to read row by row.
pub struct SampleColumns<'a> {
    pub len: usize,
    pub ts: TsColumn,
    pub host: StrColumn<'a>,
    pub name: StrColumn<'a>,
    pub labels: Option<&'a MapArray>,
    pub label_keys: StrColumn<'a>,
    pub label_values: StrColumn<'a>,
    pub value: &'a Float64Array,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

impl<'a> SampleColumns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Result<SampleColumns<'a>, ArrowError> {
        let need = |name: &str| {
            column(batch, name).ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!("metric samples: missing column '{name}'"))
            })
        };
        let value = need("value")?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!(
                    "column 'value': expected float64, got {}",
                    batch
                        .column(batch.schema().index_of("value").unwrap_or(0))
                        .data_type()
                ))
            })?;
        let labels = match column(batch, "labels") {
            None => None,
            Some(a) if a.data_type() == &DataType::Null => None,
            Some(a) => Some(a.as_map_opt().ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!(
                    "column 'labels': expected map<string, string>, got {}",
                    a.data_type()
                ))
            })?),
        };
        let (label_keys, label_values) = match labels {
            Some(m) => {
                // A sliced map keeps its whole children: only this batch's entries are read
                // (and checked), and an error names the row of the entry.
                let o = m.value_offsets();
                let used = o[0] as usize..o[o.len() - 1] as usize;
                let row = |part: &'static str| {
                    move |entry: usize| {
                        let row = o
                            .partition_point(|&x| x as usize <= entry)
                            .saturating_sub(1);
                        format!("column 'labels': row {row}: {part}")
                    }
                };
                (
                    StrColumn::with_used(
                        m.keys().as_ref(),
                        "labels keys",
                        used.clone(),
                        &row("key"),
                    )?,
                    StrColumn::with_used(
                        m.values().as_ref(),
                        "labels values",
                        used,
                        &row("value"),
                    )?,
                )
            }
            None => (StrColumn::Null, StrColumn::Null),
        };
        Ok(SampleColumns {
            len: batch.num_rows(),
            ts: TsColumn::new(need("ts")?.as_ref())?,
            host: match column(batch, "host") {
                Some(a) => StrColumn::new(a.as_ref(), "column 'host'")?,
                None => StrColumn::Null,
            },
            name: StrColumn::new(need("name")?.as_ref(), "column 'name'")?,
            labels,
            label_keys,
            label_values,
            value,
        })
    }

    /// Whether no row has a label entry.
    pub fn no_labels(&self) -> bool {
        match self.labels {
            None => true,
            Some(m) => {
                let o = m.value_offsets();
                o.first() == o.last()
            }
        }
    }

    /// Whether row `i` has at least one label entry.
    pub fn has_labels(&self, i: usize) -> bool {
        match self.labels {
            Some(m) if m.is_valid(i) => {
                let o = m.value_offsets();
                o[i + 1] > o[i]
            }
            _ => false,
        }
    }

    /// The label entries of row `i` (key, value); null values read as "".
    pub fn labels(&self, i: usize) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let range = match self.labels {
            Some(m) if m.is_valid(i) => {
                let o = m.value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            _ => 0..0,
        };
        range.filter_map(move |j| {
            let k = self.label_keys.get(j)?;
            Some((k, self.label_values.get(j).unwrap_or("")))
        })
    }
}

/// Alert changes as a batch: `ts`, `rule`, `state`, `labels`, `value`, `active_since`,
/// `fired_at`, `resolved_at` (timestamps in µs, UTC).
pub fn alert_changes_batch(rule_names: &[&str], changes: &[super::AlertChange]) -> RecordBatch {
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", ts_type.clone(), false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        map_field(),
        Field::new("value", DataType::Float64, true),
        Field::new("active_since", ts_type.clone(), false),
        Field::new("fired_at", ts_type.clone(), true),
        Field::new("resolved_at", ts_type, true),
    ]));
    let us = |ms: i64| ms.saturating_mul(1000);
    let ts_col = |f: &dyn Fn(&super::AlertChange) -> Option<i64>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(
                changes.iter().map(|c| f(c).map(us)).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        )
    };
    let mut rule = StringBuilder::new();
    let mut state = StringBuilder::new();
    let mut labels = SampleBuilder::new();
    for c in changes {
        rule.append_value(rule_names.get(c.rule).copied().unwrap_or(""));
        state.append_value(c.state.as_str());
        labels.push(
            0,
            None,
            "",
            c.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            c.value,
        );
    }
    let label_col = labels.finish().column(3).clone();
    RecordBatch::try_new(
        schema,
        vec![
            ts_col(&|c| Some(c.ts_ms)),
            Arc::new(rule.finish()),
            Arc::new(state.finish()),
            label_col,
            Arc::new(Float64Array::from(
                changes.iter().map(|c| c.value).collect::<Vec<_>>(),
            )),
            ts_col(&|c| Some(c.active_since_ms)),
            ts_col(&|c| c.fired_at_ms),
            ts_col(&|c| c.resolved_at_ms),
        ],
    )
    .expect("columns match the alert-changes schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_becomes_a_metrics_batch() {
        let text =
            "# TYPE up gauge\nup{job=\"node\",host=\"web1\"} 1 1700000000000\nup{job=\"db\"} 0\n";
        let batch = exposition_batch(text, 5_000_000, Some("scraper")).unwrap();
        assert_eq!(batch.schema(), metrics_schema());
        let cols = SampleColumns::new(&batch).unwrap();
        assert_eq!(cols.ts.get(0), Some(1_700_000_000_000));
        assert_eq!(cols.ts.get(1), Some(5_000));
        assert_eq!(cols.host.get(0), Some("web1"));
        assert_eq!(cols.host.get(1), Some("scraper"));
        assert_eq!(cols.labels(0).collect::<Vec<_>>(), [("job", "node")]);
        assert_eq!(cols.name.get(1), Some("up"));
        assert_eq!(cols.value.value(1), 0.0);
    }

    #[test]
    fn errors_keep_their_line() {
        let e = exposition_batch("a 1\nb{", 0, None).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
