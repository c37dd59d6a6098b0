//! Log-rule thresholds: "N matching events for one key within a window", in event time.
//!
//! A rule with `threshold: {count: N, within: W, by: [field…]}` fires for a key (the values
//! of its `by` fields) when N of its events fall within `W`: the window `(t − W, t]` ending
//! at an event holds at least N events. It stays firing while new events keep the count up
//! and resolves when the N-th newest event leaves the window, at that event's time + W, once
//! event time (the newest event seen by any rule) has passed that point.
//!
//! Per key only the newest N timestamps are kept — older ones leave the window first and
//! can never decide the count — so memory is bounded by keys × N. Out-of-order events are
//! placed in order. The state saves to JSON, so a restart keeps windows and firing alerts.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One threshold rule.
#[derive(Clone, Debug)]
pub struct ThresholdSpec {
    pub name: String,
    pub count: usize,
    pub within_ms: i64,
}

/// Keys tracked per rule at most; beyond it the quietest key without an alert is dropped.
pub const MAX_KEYS_PER_RULE: usize = 100_000;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct KeyState {
    /// Newest timestamps (ms), ascending, at most `count`.
    recent: VecDeque<i64>,
    /// When the current alert's window started (first evidence), if firing.
    active_since: Option<i64>,
    fired_at: Option<i64>,
}

/// A threshold alert starting or ending.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdChange {
    pub ts_ms: i64,
    pub rule: usize,
    pub key: String,
    pub firing: bool,
    /// Events in the window when the change happened.
    pub count: usize,
    pub active_since_ms: i64,
    pub fired_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    watermark: Option<i64>,
    keys: BTreeMap<String, BTreeMap<String, KeyState>>,
}

/// The threshold rules with their windows.
pub struct ThresholdEngine {
    rules: Vec<ThresholdSpec>,
    keys: Vec<BTreeMap<String, KeyState>>,
    watermark: Option<i64>,
}

impl ThresholdEngine {
    pub fn new(rules: Vec<ThresholdSpec>) -> Result<ThresholdEngine, String> {
        for r in &rules {
            if r.count == 0 || r.within_ms <= 0 {
                return Err(format!(
                    "rule '{}': threshold needs count >= 1 and a positive window",
                    r.name
                ));
            }
        }
        let keys = rules.iter().map(|_| BTreeMap::new()).collect();
        Ok(ThresholdEngine {
            rules,
            keys,
            watermark: None,
        })
    }

    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Keys tracked over all rules.
    pub fn key_count(&self) -> usize {
        self.keys.iter().map(BTreeMap::len).sum()
    }

    /// Take in events `(rule index, ts ms, key)` in any order; returns the changes, with
    /// resolutions up to the newest event time seen.
    pub fn ingest(
        &mut self,
        events: impl IntoIterator<Item = (usize, i64, String)>,
    ) -> Result<Vec<ThresholdChange>, String> {
        let mut events: Vec<(usize, i64, String)> = events.into_iter().collect();
        // Event time order, so that a resolution between two bursts is seen between them.
        events.sort_by_key(|e| e.1);
        let mut out = Vec::new();
        for (rule, ts, key) in events {
            if rule >= self.rules.len() {
                return Err(format!(
                    "event for rule index {rule}: only {} threshold rules",
                    self.rules.len()
                ));
            }
            self.resolve_until(ts, &mut out);
            self.watermark = Some(self.watermark.map_or(ts, |w| w.max(ts)));
            self.add(rule, ts, key, &mut out);
        }
        Ok(out)
    }

    /// Resolve what has gone quiet by `now_ms` (event time moving on without events).
    pub fn advance_to(&mut self, now_ms: i64) -> Vec<ThresholdChange> {
        let mut out = Vec::new();
        self.resolve_until(now_ms, &mut out);
        self.watermark = Some(self.watermark.map_or(now_ms, |w| w.max(now_ms)));
        out
    }

    fn add(&mut self, rule: usize, ts: i64, key: String, out: &mut Vec<ThresholdChange>) {
        let spec = &self.rules[rule];
        let keys = &mut self.keys[rule];
        if !keys.contains_key(&key) && keys.len() >= MAX_KEYS_PER_RULE {
            evict_quietest(keys);
        }
        let state = keys.entry(key.clone()).or_default();
        let at = state.recent.partition_point(|&t| t <= ts);
        if at == 0 && state.recent.len() == spec.count {
            return; // older than the N newest: it leaves the window before any of them
        }
        state.recent.insert(at, ts);
        if state.recent.len() > spec.count {
            state.recent.pop_front();
        }
        let newest = *state.recent.back().expect("just inserted");
        let full = state.recent.len() == spec.count;
        if full && state.active_since.is_none() {
            let first = *state.recent.front().expect("count >= 1");
            if newest - first < spec.within_ms {
                state.active_since = Some(first);
                state.fired_at = Some(newest);
                out.push(ThresholdChange {
                    ts_ms: newest,
                    rule,
                    key,
                    firing: true,
                    count: spec.count,
                    active_since_ms: first,
                    fired_at_ms: newest,
                    resolved_at_ms: None,
                });
            }
        }
    }

    /// Resolve every firing key whose N-th newest event left the window by `now`, and drop
    /// keys with nothing left to decide.
    fn resolve_until(&mut self, now: i64, out: &mut Vec<ThresholdChange>) {
        if self.watermark.is_some_and(|w| now <= w) {
            return;
        }
        for (rule, keys) in self.keys.iter_mut().enumerate() {
            let spec = &self.rules[rule];
            keys.retain(|key, state| {
                if let (Some(since), Some(fired)) = (state.active_since, state.fired_at) {
                    let ends = state.recent.front().map_or(now, |&t| t + spec.within_ms);
                    if state.recent.len() < spec.count || ends <= now {
                        out.push(ThresholdChange {
                            ts_ms: ends,
                            rule,
                            key: key.clone(),
                            firing: false,
                            count: spec.count - 1,
                            active_since_ms: since,
                            fired_at_ms: fired,
                            resolved_at_ms: Some(ends),
                        });
                        state.active_since = None;
                        state.fired_at = None;
                    }
                }
                // A key whose newest event left the window can decide nothing any more.
                state.active_since.is_some()
                    || state
                        .recent
                        .back()
                        .is_some_and(|&t| t + spec.within_ms > now)
            });
        }
    }

    pub fn save_state(&self) -> String {
        let keys = self
            .rules
            .iter()
            .zip(&self.keys)
            .map(|(r, k)| (r.name.clone(), k.clone()))
            .collect();
        serde_json::to_string(&Saved {
            watermark: self.watermark,
            keys,
        })
        .expect("state serialises")
    }

    /// Restore saved state; keys of rules that no longer exist are dropped.
    pub fn restore_state(&mut self, json: &str) -> Result<(), String> {
        let saved: Saved =
            serde_json::from_str(json).map_err(|e| format!("log threshold state: {e}"))?;
        self.watermark = saved.watermark;
        for (i, r) in self.rules.iter().enumerate() {
            let mut keys = saved.keys.get(&r.name).cloned().unwrap_or_default();
            for state in keys.values_mut() {
                while state.recent.len() > r.count {
                    state.recent.pop_front();
                }
            }
            self.keys[i] = keys;
        }
        Ok(())
    }
}

fn evict_quietest(keys: &mut BTreeMap<String, KeyState>) {
    let victim = keys
        .iter()
        .filter(|(_, s)| s.active_since.is_none())
        .min_by_key(|(_, s)| s.recent.back().copied().unwrap_or(i64::MIN))
        .map(|(k, _)| k.clone());
    if let Some(k) = victim {
        keys.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn engine() -> ThresholdEngine {
        // Five failed logins from one address within a minute.
        ThresholdEngine::new(vec![ThresholdSpec {
            name: "ssh_brute".into(),
            count: 5,
            within_ms: 60 * S,
        }])
        .unwrap()
    }

    fn ev(ts_s: i64, key: &str) -> (usize, i64, String) {
        (0, ts_s * S, key.to_string())
    }

    #[test]
    fn fires_on_the_nth_event_within_the_window_and_resolves_when_it_leaves() {
        let mut e = engine();
        let burst: Vec<_> = [0, 10, 20, 30, 40]
            .iter()
            .map(|&t| ev(t, "10.0.0.9"))
            .collect();
        let out = e.ingest(burst).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].firing);
        assert_eq!((out[0].active_since_ms, out[0].fired_at_ms), (0, 40 * S));
        // More events keep it firing; the window of the 5 newest ends at 50+60 s.
        assert!(e.ingest([ev(50, "10.0.0.9")]).unwrap().is_empty());
        // Another key's event at 200 s moves event time on: resolved at 10 s + 60 s? No: the
        // 5 newest are 10..50, so the count drops below 5 when 10 s leaves, at 70 s.
        let out = e.ingest([ev(200, "other")]).unwrap();
        assert_eq!(out.len(), 1);
        assert!(!out[0].firing);
        assert_eq!(out[0].resolved_at_ms, Some(70 * S));
        assert_eq!(out[0].ts_ms, 70 * S);
    }

    #[test]
    fn spread_out_events_and_other_keys_do_not_fire() {
        let mut e = engine();
        let slow: Vec<_> = (0..10).map(|i| ev(i * 20, "a")).collect(); // 3 per minute
        assert!(e.ingest(slow).unwrap().is_empty());
        let mixed: Vec<_> = (0..8)
            .map(|i| ev(500 + i, if i % 2 == 0 { "b" } else { "c" }))
            .collect();
        assert!(e.ingest(mixed).unwrap().is_empty());
    }

    #[test]
    fn out_of_order_batches_give_the_same_result() {
        let times = [5, 1, 4, 2, 3];
        let mut a = engine();
        let shuffled = a.ingest(times.iter().map(|&t| ev(t, "k"))).unwrap();
        let mut b = engine();
        let mut ordered = Vec::new();
        for t in 1..=5 {
            ordered.extend(b.ingest([ev(t, "k")]).unwrap());
        }
        assert_eq!(shuffled, ordered);
        assert_eq!(shuffled[0].active_since_ms, S);
    }

    #[test]
    fn state_survives_a_restart_mid_window() {
        let mut a = engine();
        a.ingest((0..3).map(|t| ev(t, "k"))).unwrap();
        let saved = a.save_state();
        let mut b = engine();
        b.restore_state(&saved).unwrap();
        let out = b.ingest([ev(3, "k"), ev(4, "k")]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].active_since_ms, 0);
        assert!(b
            .restore_state("[]")
            .unwrap_err()
            .contains("log threshold state"));
    }

    #[test]
    fn quiet_keys_are_forgotten_and_advance_resolves() {
        let mut e = engine();
        e.ingest((0..5).map(|t| ev(t, "k"))).unwrap();
        e.ingest([ev(10, "x")]).unwrap();
        let out = e.advance_to(1000 * S);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resolved_at_ms, Some(60 * S));
        assert_eq!(e.key_count(), 0);
        assert!(ThresholdEngine::new(vec![ThresholdSpec {
            name: "z".into(),
            count: 0,
            within_ms: 1
        }])
        .is_err());
    }
}
