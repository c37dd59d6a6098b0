//! Times the metric-rule evaluator on issue 4's shape without Python (series as
//! dictionary-encoded hosts, arrival order, 1 M-row batches, state across batches):
//! `cargo run --release --example metrics_bench -- [SAMPLES] [SERIES] [RULE…]`
//! where RULE is one of threshold, avg, rate, zscore, labels, intern (default: all).
use std::sync::Arc;
use std::time::Instant;

use arrow_array::types::Int32Type;
use arrow_array::Array;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, MapArray, RecordBatch, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::Field;
use opsengine_core::hash::mix;
use opsengine_core::metrics::{MetricEngine, RuleSpec, Settings};

const T0_US: i64 = 1_772_445_600 * 1_000_000;
const STEP_US: i64 = 10_000_000;

/// splitmix64: a small deterministic generator, so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (series id, ts µs, gauge value, counter value) in arrival order.
fn samples(n: usize, series: usize) -> Vec<(i32, i64, f64, f64)> {
    let mut rng = Rng(7);
    let rounds = n / series;
    let mut rows = Vec::with_capacity(rounds * series);
    let mut counter = vec![0.0f64; series];
    for r in 0..rounds {
        for (s, total) in counter.iter_mut().enumerate() {
            let ts = T0_US + r as i64 * STEP_US + (rng.next() % STEP_US as u64) as i64;
            let base = 50.0 + 40.0 * (s as f64 / 7.0).sin();
            let noise = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 10.0;
            let v = base + noise;
            *total += v.abs();
            rows.push((s as i32, ts, v, *total));
        }
    }
    rows.sort_by_key(|r| r.1);
    rows
}

fn batches(
    rows: &[(i32, i64, f64, f64)],
    series: usize,
    name: &str,
    counter: bool,
    labels: bool,
) -> Vec<RecordBatch> {
    let hosts: ArrayRef = Arc::new(StringArray::from(
        (0..series)
            .map(|i| format!("host-{i:06}"))
            .collect::<Vec<_>>(),
    ));
    let names: ArrayRef = Arc::new(StringArray::from(vec![name]));
    let label_names: ArrayRef = Arc::new(StringArray::from(vec!["cpu"]));
    let cpus: ArrayRef = Arc::new(StringArray::from(
        (0..8).map(|i| i.to_string()).collect::<Vec<_>>(),
    ));
    rows.chunks(1 << 20)
        .map(|c| {
            let host = DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(c.iter().map(|r| r.0).collect::<Vec<_>>()),
                hosts.clone(),
            )
            .unwrap();
            let name = DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![0; c.len()]),
                names.clone(),
            )
            .unwrap();
            let ts = TimestampMicrosecondArray::from(c.iter().map(|r| r.1).collect::<Vec<_>>())
                .with_timezone("UTC");
            let value = Float64Array::from(
                c.iter()
                    .map(|r| if counter { r.3 } else { r.2 })
                    .collect::<Vec<_>>(),
            );
            let mut cols: Vec<(&str, ArrayRef)> = vec![
                ("ts", Arc::new(ts)),
                ("host", Arc::new(host)),
                ("name", Arc::new(name)),
                ("value", Arc::new(value)),
            ];
            if labels {
                // One label per row, keys and values dictionary-encoded (as pyarrow and
                // polars hand over categorical labels).
                let keys: ArrayRef = Arc::new(
                    DictionaryArray::<Int32Type>::try_new(
                        Int32Array::from(vec![0; c.len()]),
                        label_names.clone(),
                    )
                    .unwrap(),
                );
                let values: ArrayRef = Arc::new(
                    DictionaryArray::<Int32Type>::try_new(
                        Int32Array::from(c.iter().map(|r| r.0 % 8).collect::<Vec<_>>()),
                        cpus.clone(),
                    )
                    .unwrap(),
                );
                let entries = StructArray::from(vec![
                    (
                        Arc::new(Field::new("key", keys.data_type().clone(), false)),
                        keys,
                    ),
                    (
                        Arc::new(Field::new("value", values.data_type().clone(), true)),
                        values,
                    ),
                ]);
                let field = Arc::new(Field::new("entries", entries.data_type().clone(), false));
                let offsets = OffsetBuffer::new((0..=c.len() as i32).collect::<Vec<_>>().into());
                let map = MapArray::try_new(field, offsets, entries, None, false).unwrap();
                cols.push(("labels", Arc::new(map)));
            }
            RecordBatch::try_from_iter(cols).unwrap()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(20_000_000, |s| s.parse().unwrap());
    let series: usize = args.get(2).map_or(100_000, |s| s.parse().unwrap());
    let which: Vec<&str> = if args.len() > 3 {
        args[3..].iter().map(String::as_str).collect()
    } else {
        vec!["threshold", "avg", "rate", "zscore", "labels", "intern"]
    };
    let rows = samples(n, series);
    for w in which {
        let (expr, for_ms, name, counter, labels) = match w {
            "threshold" => ("m > 90", 300_000, "m", false, false),
            // The same rows with a threshold no sample passes: no alert state at all.
            "quiet" => ("m > 1000", 300_000, "m", false, false),
            "avg" => ("avg_over_time(m[5m]) > 85", 0, "m", false, false),
            "avg1m" => ("avg_over_time(m[1m]) > 85", 0, "m", false, false),
            "avg1h" => ("avg_over_time(m[1h]) > 85", 0, "m", false, false),
            "rate" => ("rate(c[1m]) > 1000", 0, "c", true, false),
            "zscore" => ("zscore_over_time(m[1h]) > 3", 0, "m", false, false),
            "labels" => ("m > 90", 300_000, "m", false, true),
            // Label sets to series ids alone: every row is resolved to its dense series id,
            // and the rule's selector matches none of them, so no sample is kept.
            "intern" => ("m{cpu=\"none\"} > 90", 0, "m", false, true),
            other => panic!("unknown rule kind {other}"),
        };
        let data = batches(&rows, series, name, counter, labels);
        let mut best = f64::INFINITY;
        let mut changes = 0;
        for _ in 0..3 {
            let rule = RuleSpec {
                name: w.into(),
                expr: expr.into(),
                for_ms,
                keep_firing_for_ms: 0,
            };
            let mut engine = MetricEngine::new(&[rule], Settings::default()).unwrap();
            let started = Instant::now();
            changes = 0;
            for b in &data {
                changes += engine.ingest(b).unwrap().len();
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{w:<10} {:>9.1} M samples/s  ({best:.3} s, {changes} changes)",
            rows.len() as f64 / best / 1e6
        );
    }
}
