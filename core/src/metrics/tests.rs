//! Rule-evaluation cases written from Prometheus' documentation of alerting rules and
//! PromQL: `for` edges, gaps, staleness, counter resets, `absent_over_time`, matching.

use super::samples::SampleBuilder;
use super::*;
use crate::hash::mix;
use arrow_array::{Array, ArrayRef, RecordBatch};

const MIN: i64 = 60_000;

fn engine(rules: &[(&str, &str, i64, i64)]) -> MetricEngine {
    let specs: Vec<RuleSpec> = rules
        .iter()
        .map(|(name, expr, for_s, keep_s)| RuleSpec {
            name: name.to_string(),
            expr: expr.to_string(),
            for_ms: for_s * 1000,
            keep_firing_for_ms: keep_s * 1000,
        })
        .collect();
    MetricEngine::new(&specs, Settings::default()).expect("rules compile")
}

/// (seconds, name, labels incl. host, value)
type S<'a> = (i64, &'a str, &'a [(&'a str, &'a str)], f64);

fn batch(samples: &[S<'_>]) -> RecordBatch {
    let mut b = SampleBuilder::new();
    for (ts, name, labels, v) in samples {
        let host = labels.iter().find(|(k, _)| *k == "host").map(|(_, v)| *v);
        let rest = labels.iter().filter(|(k, _)| *k != "host").copied();
        b.push(ts * 1_000_000, host, name, rest, *v);
    }
    b.finish()
}

/// Changes as (minute of evaluation, state, host label, active_since minute).
fn summary(changes: &[AlertChange]) -> Vec<(i64, &'static str, String, i64)> {
    changes
        .iter()
        .map(|c| {
            let host = series::get_label(&c.labels, "host")
                .unwrap_or("")
                .to_string();
            (
                c.ts_ms / MIN,
                c.state.as_str(),
                host,
                c.active_since_ms / MIN,
            )
        })
        .collect()
}

/// A gauge for host `h` every 30 s from minute `from` to `to` (exclusive), value by minute.
fn gauge<'a>(
    name: &'a str,
    labels: &'a [(&'a str, &'a str)],
    from: i64,
    to: i64,
    f: impl Fn(i64) -> f64,
) -> Vec<S<'a>> {
    (from * 2..to * 2)
        .map(|half| (half * 30, name, labels, f(half / 2)))
        .collect()
}

const WEB1: &[(&str, &str)] = &[("host", "web1")];
const WEB2: &[(&str, &str)] = &[("host", "web2")];

#[test]
fn pending_then_firing_then_resolved() {
    // cpu above 90 during minutes 3..=9; for: 5m.
    let mut e = engine(&[("HighCpu", "cpu_usage_percent > 90", 300, 0)]);
    let samples = gauge("cpu_usage_percent", WEB1, 0, 20, |m| {
        if (3..10).contains(&m) {
            95.0
        } else {
            10.0
        }
    });
    let changes = e.ingest(&batch(&samples)).unwrap();
    // Step 3 (t=3:00) sees the sample at 3:00 → pending; 5 minutes later it fires; at 10:00
    // the newest sample is 10.0 → resolved.
    assert_eq!(
        summary(&changes),
        [
            (3, "pending", "web1".into(), 3),
            (8, "firing", "web1".into(), 3),
            (10, "resolved", "web1".into(), 3)
        ]
    );
    assert_eq!(changes[1].fired_at_ms, Some(8 * MIN));
    assert_eq!(changes[2].resolved_at_ms, Some(10 * MIN));
    assert_eq!(changes[1].value, 95.0);
    // Labels of the alert are the series' labels without the metric name.
    assert_eq!(changes[0].labels.len(), 1);
}

#[test]
fn for_zero_fires_at_once() {
    let mut e = engine(&[("Down", "up == 0", 0, 0)]);
    let samples = gauge("up", WEB1, 0, 5, |m| if m == 2 { 0.0 } else { 1.0 });
    assert_eq!(
        summary(&e.ingest(&batch(&samples)).unwrap()),
        [
            (2, "firing", "web1".into(), 2),
            (3, "resolved", "web1".into(), 2)
        ]
    );
}

#[test]
fn a_gap_in_the_condition_resets_the_pending_timer() {
    let mut e = engine(&[("HighCpu", "cpu_usage_percent > 90", 180, 0)]);
    // High at minutes 1,2, low at 3, high from 4 on: the 3-minute `for` restarts at 4.
    let samples = gauge("cpu_usage_percent", WEB1, 0, 10, |m| {
        if m == 0 || m == 3 {
            10.0
        } else {
            95.0
        }
    });
    assert_eq!(
        summary(&e.ingest(&batch(&samples)).unwrap()),
        [
            (1, "pending", "web1".into(), 1),
            (3, "resolved", "web1".into(), 1),
            (4, "pending", "web1".into(), 4),
            (7, "firing", "web1".into(), 4),
        ]
    );
}

#[test]
fn a_series_that_stops_goes_stale_after_the_lookback() {
    let mut e = engine(&[("HighCpu", "cpu_usage_percent > 90", 0, 0)]);
    // web1 reports high until 2:30 and then stops; web2 keeps time moving.
    let mut samples = gauge("cpu_usage_percent", WEB1, 0, 3, |_| 95.0);
    samples.extend(gauge("cpu_usage_percent", WEB2, 0, 12, |_| 10.0));
    let s = summary(&e.ingest(&batch(&samples)).unwrap());
    // The first step is 0:00 (a sample at 0:30 proves it passed). Last sample at 2:30; the
    // 5-minute lookback still sees it at 7:00 (2:30 > 2:00) and not at 8:00.
    assert_eq!(
        s,
        [
            (0, "firing", "web1".into(), 0),
            (8, "resolved", "web1".into(), 0)
        ]
    );
}

#[test]
fn keep_firing_for_holds_a_flapping_alert() {
    let mut e = engine(&[("Errors", "errors > 0", 0, 120)]);
    let samples = gauge("errors", WEB1, 0, 10, |m| {
        if m == 2 || m == 4 {
            1.0
        } else {
            0.0
        }
    });
    let s = summary(&e.ingest(&batch(&samples)).unwrap());
    // Fires at 2, missing at 3 (kept), back at 4, missing from 5: resolves at 7 (5 + 2m).
    assert_eq!(
        s,
        [
            (2, "firing", "web1".into(), 2),
            (7, "resolved", "web1".into(), 2)
        ]
    );
}

#[test]
fn rate_survives_a_counter_reset() {
    // 5 errors every 30 s (10 per minute); the counter restarts from 0 at 5:00 (a reboot).
    let samples: Vec<S> = (0..24)
        .map(|half| {
            let v = if half < 10 { half * 5 } else { (half - 10) * 5 };
            (half * 30, "net_errors_total", WEB1, v as f64)
        })
        .collect();
    // Without reset handling the drop from 45 to 0 reads as a large negative rate. With it,
    // the rate stays between 5/min (the first window of the series: no extrapolation below
    // zero) and 10/min (the true rate once the window is full).
    let mut e = engine(&[(
        "ErrRate",
        "rate(net_errors_total[2m]) * 60 < 4.9 or rate(net_errors_total[2m]) * 60 > 10.01",
        0,
        0,
    )]);
    let changes = e.ingest(&batch(&samples)).unwrap();
    assert!(
        changes.is_empty(),
        "a reset is not a spike: {:?}",
        summary(&changes)
    );
    let mut inc = engine(&[("Inc", "increase(net_errors_total[2m]) > 19.99", 0, 0)]);
    let fired = summary(&inc.ingest(&batch(&samples)).unwrap());
    // A full window counts 15 over the 90 s its samples span, extrapolated to 2 minutes: 20.
    // Windows holding the reset (5:00, 6:00) count 10 — still positive, never a drop.
    assert_eq!(
        fired,
        [
            (2, "firing", "web1".into(), 2),
            (5, "resolved", "web1".into(), 2),
            (7, "firing", "web1".into(), 7)
        ]
    );
}

#[test]
fn absent_over_time_reports_a_silent_target() {
    let mut e = engine(&[("NodeGone", "absent_over_time(up{job=\"node\"}[3m])", 0, 0)]);
    let node: &[(&str, &str)] = &[("host", "web1"), ("job", "node")];
    let other: &[(&str, &str)] = &[("host", "web2"), ("job", "db")];
    let mut samples = gauge("up", node, 0, 4, |_| 1.0);
    samples.extend(gauge("up", other, 0, 12, |_| 1.0));
    let changes = e.ingest(&batch(&samples)).unwrap();
    // Last node sample at 3:30; absent once the 3-minute window (t-3m, t] is empty: t=7.
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].ts_ms, 7 * MIN);
    assert_eq!(changes[0].state, AlertState::Firing);
    let labels: Vec<_> = changes[0]
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(labels, [("job".to_string(), "node".to_string())]);
}

#[test]
fn host_down_by_unless_and_advance_to() {
    // The default pack's idiom: seen in the last hour but not in the last 3 minutes.
    let mut e = engine(&[(
        "HostDown",
        "max_over_time(up_host[1h]) unless max_over_time(up_host[3m])",
        0,
        0,
    )]);
    let changes = e
        .ingest(&batch(&gauge("up_host", WEB1, 0, 5, |_| 1.0)))
        .unwrap();
    assert!(changes.is_empty());
    // No more samples; the wall clock moves on.
    let s = summary(&e.advance_to(10 * MIN));
    assert_eq!(s, [(8, "firing", "web1".into(), 8)]);
}

#[test]
fn label_matchers_select_series() {
    let cases = [
        ("m{dev=\"sda\"} > 0", vec!["sda"]),
        ("m{dev!=\"sda\"} > 0", vec!["sdb", "nvme0"]),
        ("m{dev=~\"sd.\"} > 0", vec!["sda", "sdb"]),
        ("m{dev!~\"sd.*\"} > 0", vec!["nvme0"]),
        ("m{dev=~\"nvme\"} > 0", vec![]),
    ];
    for (expr, want) in cases {
        let mut e = engine(&[("R", expr, 0, 0)]);
        let mut samples = Vec::new();
        for dev in ["sda", "sdb", "nvme0"] {
            let labels: &'static [(&str, &str)] =
                Box::leak(Box::new([("host", "h"), ("dev", dev)]));
            samples.extend(gauge("m", labels, 0, 2, |_| 1.0));
        }
        let changes = e.ingest(&batch(&samples)).unwrap();
        let mut got: Vec<_> = changes
            .iter()
            .map(|c| series::get_label(&c.labels, "dev").unwrap().to_string())
            .collect();
        got.sort();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "{expr}");
    }
}

#[test]
fn aggregation_and_vector_matching() {
    let mut e = engine(&[
        ("LoadAboveCores", "load1 > on(host) cpu_count", 0, 0),
        ("FleetCpu", "avg by (dc) (cpu_usage_percent) > 50", 0, 0),
    ]);
    let a: &[(&str, &str)] = &[("host", "a"), ("dc", "x")];
    let b: &[(&str, &str)] = &[("host", "b"), ("dc", "x")];
    let mut s = gauge("load1", a, 0, 2, |_| 5.0);
    s.extend(gauge("load1", b, 0, 2, |_| 1.0));
    s.extend(gauge("cpu_count", a, 0, 2, |_| 4.0));
    s.extend(gauge("cpu_count", b, 0, 2, |_| 4.0));
    s.extend(gauge("cpu_usage_percent", a, 0, 2, |_| 90.0));
    s.extend(gauge("cpu_usage_percent", b, 0, 2, |_| 20.0));
    let changes = e.ingest(&batch(&s)).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].rule, 0);
    let l0: Vec<_> = changes[0]
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(l0, ["host=a"], "on(host) keeps only host");
    assert_eq!(changes[0].value, 5.0);
    assert_eq!(changes[1].rule, 1);
    assert_eq!(changes[1].value, 55.0);
    let l1: Vec<_> = changes[1]
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(l1, ["dc=x"]);
}

#[test]
fn replay_in_one_batch_equals_live_batches() {
    let rules = [
        ("HighCpu", "cpu_usage_percent > 90", 120, 0),
        (
            "Anomaly",
            "zscore_over_time(cpu_usage_percent[10m]) > 2",
            0,
            0,
        ),
    ];
    let mut samples = gauge("cpu_usage_percent", WEB1, 0, 30, |m| {
        if (12..18).contains(&m) {
            99.0
        } else {
            20.0 + (m % 3) as f64
        }
    });
    samples.extend(gauge("cpu_usage_percent", WEB2, 0, 30, |m| {
        30.0 + (m % 4) as f64
    }));
    let mut replay = engine(&rules);
    let all = replay.ingest(&batch(&samples)).unwrap();
    let mut live = engine(&rules);
    let mut sorted = samples.clone();
    sorted.sort_by_key(|s| s.0);
    let mut got = Vec::new();
    for chunk in sorted.chunks(7) {
        got.extend(live.ingest(&batch(chunk)).unwrap());
    }
    assert!(!all.is_empty());
    assert_eq!(summary(&all), summary(&got));
    assert!(summary(&all).iter().any(|c| c.1 == "firing" && c.0 == 14));
}

#[test]
fn out_of_order_and_duplicate_samples() {
    let rules = [("R", "avg_over_time(m[2m]) > 5", 0, 0)];
    let mut samples = gauge("m", WEB1, 0, 6, |m| m as f64 * 2.0);
    let mut ordered = engine(&rules);
    let want = summary(&ordered.ingest(&batch(&samples)).unwrap());
    samples.swap(3, 4);
    samples.swap(6, 8);
    samples.push((90, "m", WEB1, 1000.0)); // a duplicate timestamp: the first sample wins
    let mut shuffled = engine(&rules);
    let got = summary(&shuffled.ingest(&batch(&samples)).unwrap());
    assert_eq!(got, want);
    let st = shuffled.stats();
    assert_eq!(st.duplicates, 1);
    assert!(st.reordered >= 2, "{st:?}");
}

#[test]
fn nan_and_infinite_samples() {
    let mut e = engine(&[("R", "m > 90", 0, 0)]);
    let samples: Vec<S> = vec![
        (0, "m", WEB1, f64::NAN),
        (0, "m", WEB2, f64::INFINITY),
        (61, "m", WEB1, 1.0),
    ];
    let changes = e.ingest(&batch(&samples)).unwrap();
    // NaN compares false; +Inf is above any threshold.
    assert_eq!(summary(&changes), [(0, "firing", "web2".into(), 0)]);
    assert_eq!(changes[0].value, f64::INFINITY);
}

#[test]
fn save_and_restore_keep_pending_timers() {
    let rules = [("HighCpu", "cpu_usage_percent > 90", 300, 0)];
    let samples = gauge("cpu_usage_percent", WEB1, 0, 12, |m| {
        if m >= 2 {
            95.0
        } else {
            10.0
        }
    });
    let mut whole = engine(&rules);
    let want = summary(&whole.ingest(&batch(&samples)).unwrap());
    let (first, second) = samples.split_at(10); // minutes 0..4 and 5..11
    let mut before = engine(&rules);
    let mut got = summary(&before.ingest(&batch(first)).unwrap());
    let state = before.save_state();
    let mut after = engine(&rules);
    after.restore_state(&state).unwrap();
    // The buffers refill from the store after a restart; here, the samples of the window.
    got.extend(summary(&after.ingest(&batch(second)).unwrap()));
    assert_eq!(got, want);
    assert_eq!(want[1], (7, "firing", "web1".to_string(), 2));
    assert!(after
        .restore_state("{")
        .unwrap_err()
        .contains("metric rule state"));
}

#[test]
fn compile_errors_name_the_rule() {
    let specs = |expr: &str| {
        vec![
            RuleSpec {
                name: "ok".into(),
                expr: "up == 0".into(),
                for_ms: 0,
                keep_firing_for_ms: 0,
            },
            RuleSpec {
                name: "bad".into(),
                expr: expr.into(),
                for_ms: 0,
                keep_firing_for_ms: 0,
            },
        ]
    };
    let err = |expr: &str| {
        MetricEngine::new(&specs(expr), Settings::default())
            .err()
            .expect(expr)
    };
    let e = err("foo(up) > 1");
    assert_eq!(e.rule, 1);
    assert!(e.message.contains("unknown function 'foo'"), "{e}");
    assert!(err("rate(x[5q]) > 1")
        .message
        .contains("invalid duration '5q'"));
    assert!(err("1 + 1").message.contains("instant vector"));
}

#[test]
fn a_long_quiet_gap_is_skipped() {
    let mut e = engine(&[("R", "m > 0", 0, 0)]);
    let year = 365 * 24 * 3600;
    let samples: Vec<S> = vec![
        (0, "m", WEB1, 1.0),
        (61, "m", WEB1, 1.0),
        (year, "m", WEB1, 1.0),
        (year + 61, "m", WEB1, 1.0),
    ];
    let changes = e.ingest(&batch(&samples)).unwrap();
    assert!(e.stats().evaluations < 100, "{:?}", e.stats());
    assert_eq!(
        summary(&changes).iter().map(|c| c.1).collect::<Vec<_>>(),
        ["firing", "resolved", "firing"]
    );
}

#[test]
fn unused_metrics_are_not_kept() {
    let mut e = engine(&[("R", "m > 0", 0, 0)]);
    e.ingest(&batch(&[(0, "other", WEB1, 1.0), (0, "m", WEB1, 1.0)]))
        .unwrap();
    let st = e.stats();
    assert_eq!((st.samples, st.unused, st.series), (2, 1, 1));
}

#[test]
fn dictionary_encoded_names_and_hosts_read_like_plain_strings() {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Float64Array, TimestampMicrosecondArray};
    let rules = [("R", "m > 5", 0, 0), ("Other", "n > 5", 0, 0)];
    // Rows: (minute, name key, host key or none, value); host dictionary has 3 values.
    let rows: Vec<(i64, i32, Option<i32>, f64)> = (0..6)
        .flat_map(|m| {
            [
                (m, 0, Some(0), 9.0),
                (m, 0, Some(2), 1.0),
                (m, 1, None, 9.0),
                (m, 0, Some(1), m as f64 * 3.0),
            ]
        })
        .collect();
    let names = ["m", "n"];
    let hosts = ["a", "b", "c"];
    let ts = TimestampMicrosecondArray::from(
        rows.iter()
            .map(|r| r.0 * 60_000_000 + 1)
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let name_dict = DictionaryArray::<Int32Type>::try_new(
        rows.iter().map(|r| r.1).collect(),
        Arc::new(arrow_array::StringArray::from(names.to_vec())),
    )
    .unwrap();
    let host_dict = DictionaryArray::<Int32Type>::try_new(
        rows.iter().map(|r| r.2).collect(),
        Arc::new(arrow_array::StringArray::from(hosts.to_vec())),
    )
    .unwrap();
    let value = Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("ts", ts.data_type().clone(), false),
        arrow_schema::Field::new("host", host_dict.data_type().clone(), true),
        arrow_schema::Field::new("name", name_dict.data_type().clone(), false),
        arrow_schema::Field::new("value", arrow_schema::DataType::Float64, false),
    ]));
    let dict_batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(ts),
            Arc::new(host_dict),
            Arc::new(name_dict),
            Arc::new(value),
        ],
    )
    .unwrap();
    let plain: Vec<S> = rows
        .iter()
        .map(|r| {
            let labels: &'static [(&str, &str)] = match r.2 {
                Some(h) => Box::leak(Box::new([("host", hosts[h as usize])])),
                None => &[],
            };
            (r.0 * 60, names[r.1 as usize], labels, r.3)
        })
        .collect();
    let mut a = engine(&rules);
    let mut b = engine(&rules);
    let from_dict = summary(&a.ingest(&dict_batch).unwrap());
    let from_plain = summary(&b.ingest(&batch(&plain)).unwrap());
    assert_eq!(from_dict, from_plain);
    assert_eq!(a.stats().series, 4);
    assert!(from_dict.contains(&(0, "firing", "a".into(), 0)));
    assert!(from_dict.contains(&(2, "firing", "b".into(), 2)));
}

#[test]
fn absent_fires_for_a_never_seen_target_while_other_metrics_move_time() {
    let mut e = engine(&[("ApiGone", "absent(up{job=\"api\"})", 120, 0)]);
    // Only other metrics arrive: they move event time on, and `up{job="api"}` never shows.
    let changes = e
        .ingest(&batch(&gauge("load1", WEB1, 0, 6, |_| 1.0)))
        .unwrap();
    assert_eq!(
        summary(&changes),
        [(0, "pending", "".into(), 0), (2, "firing", "".into(), 0)]
    );
    let labels: Vec<_> = changes[1]
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(labels, ["job=api"]);
}

#[test]
fn many_rules_in_parallel_match_each_rule_alone() {
    let exprs: Vec<String> = (0..24)
        .map(|i| format!("cpu_usage_percent > {}", 10 + i * 4))
        .collect();
    let rules: Vec<(&str, &str, i64, i64)> =
        exprs.iter().map(|e| ("r", e.as_str(), 60, 0)).collect();
    let mut samples = gauge("cpu_usage_percent", WEB1, 0, 20, |m| (m * 7 % 100) as f64);
    samples.extend(gauge("cpu_usage_percent", WEB2, 0, 20, |m| {
        (m * 13 % 100) as f64
    }));
    let mut all = engine(&rules);
    let together: Vec<_> = all
        .ingest(&batch(&samples))
        .unwrap()
        .into_iter()
        .map(|c| (c.ts_ms, c.rule, c.state, c.active_since_ms))
        .collect();
    let mut alone = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let mut e = engine(&[*r]);
        alone.extend(
            e.ingest(&batch(&samples))
                .unwrap()
                .into_iter()
                .map(|c| (c.ts_ms, i, c.state, c.active_since_ms)),
        );
    }
    let mut sorted_together = together.clone();
    sorted_together.sort_by_key(|c| (c.0, c.1));
    alone.sort_by_key(|c| (c.0, c.1));
    assert_eq!(
        together, sorted_together,
        "changes come out in step, then rule order"
    );
    assert!(together.len() > 24);
    // Within one step and rule the order is by alert; compare as multisets.
    let key = |v: &Vec<(i64, usize, AlertState, i64)>| {
        let mut v: Vec<_> = v.iter().map(|c| (c.0, c.1, c.2.as_str(), c.3)).collect();
        v.sort();
        v
    };
    assert_eq!(key(&together), key(&alone));
}

/// A batch of `m` samples with the host dictionary-encoded over `hosts`.
fn dict_host_batch(minutes: &[i64], keys: &[i32], hosts: &ArrayRef, value: f64) -> RecordBatch {
    let names: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["m"]));
    let zeros = vec![0; minutes.len()];
    raw_dict_batch(minutes, &zeros, names, keys, hosts.clone(), value)
}

#[test]
fn batches_sharing_a_dictionary_and_batches_with_another_keep_series_apart() {
    let rules = [("R", "m > 5", 0, 0)];
    let hosts: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a", "b", "c"]));
    let mut e = engine(&rules);
    // Two batches over one dictionary (as when a table is cut into batches): the second
    // reuses the first's resolved key pairs.
    e.ingest(&dict_host_batch(&[0, 0, 0], &[0, 1, 2], &hosts, 9.0))
        .unwrap();
    e.ingest(&dict_host_batch(&[1, 1], &[0, 1], &hosts, 9.0))
        .unwrap();
    // A dictionary of the same size whose keys mean other hosts: key 0 is now "x".
    let other: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["x", "a", "b"]));
    let changes = e
        .ingest(&dict_host_batch(&[2, 2, 3], &[0, 1, 0], &other, 9.0))
        .unwrap();
    assert_eq!(e.stats().series, 4, "a, b, c and x");
    let got = summary(&changes);
    // The samples sit on the minute, so the step of minute 2 (closed by the sample at
    // minute 3) sees x: keyed 0 like "a" in the earlier batches, yet its own series.
    assert_eq!(got, [(2, "firing", "x".to_string(), 2)]);
    assert!(!got.iter().any(|c| c.1 == "resolved"), "{got:?}");
    // The same rows again from plain strings give the same series count.
    let mut plain = engine(&rules);
    let rows: Vec<S> = vec![
        (0, "m", WEB1, 9.0),
        (60, "m", WEB1, 9.0),
        (120, "m", &[("host", "x")], 9.0),
    ];
    plain.ingest(&batch(&rows)).unwrap();
    assert_eq!(plain.stats().series, 2);
}

#[test]
fn a_series_spelled_with_labels_in_another_order_is_one_series() {
    let mut e = engine(&[("R", "m > 5", 0, 0)]);
    let rows: Vec<S> = vec![
        (0, "m", &[("host", "h"), ("a", "1"), ("b", "2")], 9.0),
        (30, "m", &[("host", "h"), ("b", "2"), ("a", "1")], 9.0),
        (60, "m", &[("host", "h"), ("a", "1"), ("b", "2")], 9.0),
        (90, "m", &[("host", "h"), ("a", "1"), ("b", "3")], 9.0),
        (120, "m", &[("host", "h"), ("a", "1b")], 9.0),
        (150, "m", &[("host", "h"), ("a1", "b")], 9.0),
    ];
    e.ingest(&batch(&rows)).unwrap();
    assert_eq!(e.stats().series, 4);
    assert_eq!(e.stats().duplicates, 0);
}

#[test]
fn labelled_rows_over_shared_dictionaries_keep_their_labels() {
    let hosts: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a", "b"]));
    let with_labels = |minutes: &[i64], keys: &[i32], cpus: &[&str], hosts: &ArrayRef| {
        let base = dict_host_batch(minutes, keys, hosts, 9.0);
        let mut labels = SampleBuilder::new();
        for cpu in cpus {
            labels.push(0, None, "", [("cpu", *cpu)], 0.0);
        }
        let (schema, mut columns, _) = base.into_parts();
        let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
        let map = labels.finish().column(3).clone();
        fields.push(Arc::new(arrow_schema::Field::new(
            "labels",
            map.data_type().clone(),
            true,
        )));
        columns.push(map);
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
    };
    let mut e = engine(&[("R", "m > 5", 0, 0)]);
    e.ingest(&with_labels(
        &[0, 0, 0],
        &[0, 0, 1],
        &["0", "1", "0"],
        &hosts,
    ))
    .unwrap();
    e.ingest(&with_labels(
        &[1, 1, 1],
        &[0, 0, 1],
        &["1", "0", "1"],
        &hosts,
    ))
    .unwrap();
    assert_eq!(e.stats().series, 4, "a/0, a/1, b/0, b/1");
    // Another dictionary: key 0 is "b" now, so (key 0, cpu 0) is b/0, not a/0.
    let other: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["b", "c"]));
    e.ingest(&with_labels(&[2, 2], &[0, 1], &["0", "0"], &other))
        .unwrap();
    assert_eq!(e.stats().series, 5, "c/0 is the only new one");
}

/// A small deterministic generator (splitmix64), so a failing stream replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Everything a change says, with the value's bits (NaN equals NaN).
fn exact(changes: &[AlertChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {:?} {:?} {:x} {} {:?} {:?}",
                c.ts_ms,
                c.rule,
                c.state,
                c.labels,
                c.value.to_bits(),
                c.active_since_ms,
                c.fired_at_ms,
                c.resolved_at_ms
            )
        })
        .collect()
}

#[test]
fn the_dictionary_path_gives_what_the_general_path_gives() {
    // Batches of dictionary-encoded names and hosts take the path without a row buffer
    // (or fall back from it when their rows go back a bucket); the same rows as plain
    // strings take the general path. Random streams with late, duplicate and unused rows,
    // gaps and counter resets must give the same changes and counters either way.
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Float64Array, Int32Array, TimestampMicrosecondArray};
    let rules = [
        ("Hot", "m > 50", 120, 0),
        ("Avg", "avg_over_time(m[5m]) > 40", 0, 60),
        ("Rate", "rate(c[2m]) > 0.5", 60, 0),
        ("Gone", "absent_over_time(m{host=\"h3\"}[3m])", 0, 0),
        ("Max", "max by (host) (m) > 80", 0, 0),
    ];
    let names = ["m", "c", "unused"];
    let hosts: Vec<String> = (0..8).map(|i| format!("h{i}")).collect();
    let name_values: ArrayRef = Arc::new(arrow_array::StringArray::from(names.to_vec()));
    let host_values: ArrayRef = Arc::new(arrow_array::StringArray::from(hosts.clone()));
    let dict_col = |keys: &mut dyn Iterator<Item = i32>, values: &ArrayRef| -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from_iter_values(keys),
                values.clone(),
            )
            .unwrap(),
        )
    };
    let label_words = ["0", "1", "2", "3", "user", "system"];
    let shared_label_keys: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["cpu", "mode"]));
    let shared_label_values: ArrayRef =
        Arc::new(arrow_array::StringArray::from(label_words.to_vec()));
    for seed in 0..40u64 {
        let mut rng = Rng(seed);
        let (mut keyed, mut general) = (engine(&rules), engine(&rules));
        let mut now_us = 1_700_000_000_000_000i64;
        let mut counters = [0.0f64; 8];
        for _ in 0..30 {
            let n = 1 + rng.below(200) as usize;
            let mut rows: Vec<(i64, i32, i32, f64)> = Vec::with_capacity(n);
            // Label entries per row as (key index, value index) into the label dictionaries.
            let mut row_labels: Vec<Vec<(i32, i32)>> = Vec::with_capacity(n);
            for _ in 0..n {
                now_us += rng.below(3_000_000) as i64;
                if rng.below(200) == 0 {
                    now_us += 3_600_000_000; // an hour of quiet
                }
                let late = match rng.below(20) {
                    0 => rng.below(150_000_000) as i64, // a few buckets back
                    1 => rng.below(5_000_000) as i64,
                    _ => 0,
                };
                let host = rng.below(8) as i32;
                let name = [0, 0, 0, 1, 1, 2][rng.below(6) as usize];
                let value = if name == 1 {
                    if rng.below(40) == 0 {
                        counters[host as usize] = 0.0; // a counter reset
                    }
                    counters[host as usize] += rng.below(100) as f64;
                    counters[host as usize]
                } else {
                    rng.below(100) as f64
                };
                // Second-aligned times so that duplicates happen.
                let ts = (now_us - late) / 1_000_000 * 1_000_000;
                rows.push((ts, name, host, value));
                row_labels.push(match rng.below(4) {
                    0 => vec![],
                    1 => vec![(0, rng.below(4) as i32)],
                    2 => vec![(0, rng.below(4) as i32), (1, 4 + rng.below(2) as i32)],
                    // The same set spelled in the other order is the same series.
                    _ => vec![(1, 4 + rng.below(2) as i32), (0, rng.below(4) as i32)],
                });
            }
            // Most batches share the label dictionaries; some bring their own copies.
            let (label_keys, label_values) = if rng.below(3) == 0 {
                (
                    Arc::new(arrow_array::StringArray::from(vec!["cpu", "mode"])) as ArrayRef,
                    Arc::new(arrow_array::StringArray::from(label_words.to_vec())) as ArrayRef,
                )
            } else {
                (shared_label_keys.clone(), shared_label_values.clone())
            };
            let with_labels = rng.below(2) == 0;
            let ts = TimestampMicrosecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone("UTC");
            let value = Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
            let dict = RecordBatch::try_from_iter([
                ("ts", Arc::new(ts) as ArrayRef),
                (
                    "host",
                    dict_col(&mut rows.iter().map(|r| r.2), &host_values),
                ),
                (
                    "name",
                    dict_col(&mut rows.iter().map(|r| r.1), &name_values),
                ),
                ("value", Arc::new(value)),
            ])
            .unwrap();
            let dict = if with_labels {
                let flat: Vec<(i32, i32)> = row_labels.iter().flatten().copied().collect();
                let keys = dict_col(&mut flat.iter().map(|e| e.0), &label_keys);
                let values = dict_col(&mut flat.iter().map(|e| e.1), &label_values);
                let mut offsets = vec![0i32];
                for l in &row_labels {
                    offsets.push(offsets.last().unwrap() + l.len() as i32);
                }
                with_label_map(dict, keys, values, offsets)
            } else {
                dict
            };
            let mut plain = SampleBuilder::new();
            for (r, l) in rows.iter().zip(&row_labels) {
                let l: Vec<(&str, &str)> = if with_labels {
                    l.iter()
                        .map(|&(k, v)| (["cpu", "mode"][k as usize], label_words[v as usize]))
                        .collect()
                } else {
                    vec![]
                };
                plain.push(r.0, Some(&hosts[r.2 as usize]), names[r.1 as usize], l, r.3);
            }
            let a = exact(&keyed.ingest(&dict).unwrap());
            let b = exact(&general.ingest(&plain.finish()).unwrap());
            if let Some(at) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
                panic!(
                    "seed {seed}: change {at} of {}/{}: {:?} vs {:?}",
                    a.len(),
                    b.len(),
                    a.get(at),
                    b.get(at)
                );
            }
            assert_eq!(keyed.stats(), general.stats(), "seed {seed}");
        }
        assert!(keyed.stats().evaluations > 0);
    }
}

/// A batch with name keys over `names` and host keys over `hosts`, every value `value`,
/// built without Arrow's key validation (as an array imported over FFI may be).
fn raw_dict_batch(
    minutes: &[i64],
    name_keys: &[i32],
    names: ArrayRef,
    host_keys: &[i32],
    hosts: ArrayRef,
    value: f64,
) -> RecordBatch {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Float64Array, Int32Array, TimestampMicrosecondArray};
    let dict = |keys: &[i32], values: ArrayRef| -> ArrayRef {
        // SAFETY: the test wants keys Arrow did not check; only this crate's readers see
        // them, and they must reject them.
        Arc::new(unsafe {
            DictionaryArray::<Int32Type>::new_unchecked(Int32Array::from(keys.to_vec()), values)
        })
    };
    let ts = TimestampMicrosecondArray::from(
        minutes
            .iter()
            .map(|m| m * 60_000_000 + 1)
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    RecordBatch::try_from_iter([
        ("ts", Arc::new(ts) as ArrayRef),
        ("host", dict(host_keys, hosts)),
        ("name", dict(name_keys, names)),
        (
            "value",
            Arc::new(Float64Array::from(vec![value; minutes.len()])),
        ),
    ])
    .unwrap()
}

#[test]
fn dictionary_keys_out_of_range_are_an_error_naming_the_column() {
    let mut e = engine(&[("R", "m > 5", 0, 0)]);
    let hosts: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a", "b"]));
    let names: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["m"]));
    let bad = raw_dict_batch(&[0, 1], &[0, 0], names.clone(), &[0, 2], hosts.clone(), 9.0);
    let err = e.ingest(&bad).unwrap_err().to_string();
    assert!(
        err.contains("column 'host'") && err.contains("row 1"),
        "{err}"
    );
    assert!(err.contains("key 2 is out of range"), "{err}");
    let negative = raw_dict_batch(&[0], &[-1], names.clone(), &[0], hosts.clone(), 9.0);
    assert!(e
        .ingest(&negative)
        .unwrap_err()
        .to_string()
        .contains("column 'name'"));
    // Nothing was taken in: a good batch afterwards starts the clock from its own time.
    assert_eq!(e.stats().samples, 0);
    let good = raw_dict_batch(&[5, 7], &[0, 0], names, &[1, 1], hosts, 9.0);
    let changes = e.ingest(&good).unwrap();
    assert_eq!(summary(&changes), [(5, "firing", "b".into(), 5)]);
}

#[test]
fn a_null_among_the_name_dictionary_makes_its_rows_invalid() {
    // The row whose name key points at a null string is invalid on either path: counted,
    // and its (far future) time does not move the evaluation on.
    let hosts: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a"]));
    let names: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![Some("m"), None]));
    let batch = raw_dict_batch(&[0, 1, 10_000], &[0, 0, 1], names, &[0, 0, 0], hosts, 9.0);
    let mut e = engine(&[("R", "m > 5", 0, 0)]);
    let changes = e.ingest(&batch).unwrap();
    assert_eq!(e.stats().invalid, 1);
    assert_eq!(e.stats().samples, 2);
    // Only the step at minute 0 is proven past (by the sample at minute 1).
    assert_eq!(summary(&changes), [(0, "firing", "a".into(), 0)]);
    assert_eq!(e.last_evaluation(), Some(0));
}

/// `raw_dict_batch` with a one-label map per row (`cpu` = `cpus[value key]`), its value keys
/// unchecked by Arrow.
fn labelled_raw_batch(minutes: &[i64], host_keys: &[i32], cpu_keys: &[i32]) -> RecordBatch {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array};
    let hosts: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a", "b"]));
    let names: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["m"]));
    let zeros = vec![0; minutes.len()];
    let base = raw_dict_batch(minutes, &zeros, names, host_keys, hosts, 9.0);
    let dict = |keys: &[i32], values: Vec<&str>| -> ArrayRef {
        let values: ArrayRef = Arc::new(arrow_array::StringArray::from(values));
        // SAFETY: as in `raw_dict_batch`: keys the readers must check themselves.
        Arc::new(unsafe {
            DictionaryArray::<Int32Type>::new_unchecked(Int32Array::from(keys.to_vec()), values)
        })
    };
    let keys = dict(&zeros, vec!["cpu"]);
    let values = dict(cpu_keys, vec!["0", "1"]);
    let offsets: Vec<i32> = (0..=minutes.len() as i32).collect();
    with_label_map(base, keys, values, offsets)
}

/// `batch` with a `labels` map column of the entries `keys`/`values`, row i holding the
/// entries `offsets[i]..offsets[i + 1]`.
fn with_label_map(
    batch: RecordBatch,
    keys: ArrayRef,
    values: ArrayRef,
    offsets: Vec<i32>,
) -> RecordBatch {
    let field = |name: &str, a: &ArrayRef, nullable: bool| {
        Arc::new(arrow_schema::Field::new(
            name,
            a.data_type().clone(),
            nullable,
        ))
    };
    let entries = arrow_array::StructArray::from(vec![
        (field("key", &keys, false), keys.clone()),
        (field("value", &values, true), values.clone()),
    ]);
    let map = arrow_array::MapArray::try_new(
        Arc::new(arrow_schema::Field::new(
            "entries",
            entries.data_type().clone(),
            false,
        )),
        arrow_buffer::OffsetBuffer::new(offsets.into()),
        entries,
        None,
        false,
    )
    .unwrap();
    let (schema, mut columns, _) = batch.into_parts();
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    let map: ArrayRef = Arc::new(map);
    fields.push(field("labels", &map, true));
    columns.push(map);
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap()
}

#[test]
fn a_label_key_out_of_range_names_its_row_and_a_slice_reads_only_its_own_entries() {
    // Row 3's label value key points past the dictionary ("0", "1").
    let batch = labelled_raw_batch(&[0, 0, 1, 1, 2], &[0, 1, 0, 1, 0], &[0, 1, 0, 5, 1]);
    let mut e = engine(&[("R", "m > 5", 0, 0)]);
    let err = e.ingest(&batch).unwrap_err().to_string();
    assert!(
        err.contains("column 'labels': row 3: value: dictionary key 5 is out of range"),
        "{err}"
    );
    assert_eq!(e.stats().samples, 0, "nothing taken in");
    // A slice keeps the map's whole children; the slices without row 3 are fine, the one
    // with it names the row within the slice.
    assert!(e.ingest(&batch.slice(0, 3)).is_ok());
    let err = e.ingest(&batch.slice(2, 2)).unwrap_err().to_string();
    assert!(err.contains("row 1: value: dictionary key 5"), "{err}");
    assert!(e.ingest(&batch.slice(4, 1)).is_ok());
    assert_eq!(e.stats().samples, 4);
    assert_eq!(e.stats().series, 3, "a/0, b/1, a/1");
}

#[test]
fn two_results_with_one_label_set_make_one_alert_valued_by_the_first() {
    // `m{host="a"}` and `n{host="a"}` are one label set once the name is dropped: one
    // alert, its value from the first result (series order), its state moved once per step.
    let mut e = engine(&[("R", "{__name__=~\"m|n\"} > 5", 60, 0)]);
    let mut rows: Vec<S> = Vec::new();
    for minute in 0..4 {
        rows.push((minute * 60, "m", &[("host", "a")], 9.0));
        rows.push((minute * 60, "n", &[("host", "a")], 7.0));
    }
    rows.push((4 * 60, "m", &[("host", "a")], 1.0));
    rows.push((4 * 60, "n", &[("host", "a")], 1.0));
    rows.push((5 * 60, "m", &[("host", "a")], 1.0));
    let changes = e.ingest(&batch(&rows)).unwrap();
    let got: Vec<(i64, &str, f64)> = changes
        .iter()
        .map(|c| (c.ts_ms / MIN, c.state.as_str(), c.value))
        .collect();
    assert_eq!(
        got,
        [
            (0, "pending", 9.0),
            (1, "firing", 9.0),
            (4, "resolved", 9.0)
        ]
    );
}
