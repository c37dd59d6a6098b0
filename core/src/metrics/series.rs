//! Series: label sets interned to dense ids, and a time-ordered sample buffer per id.
//!
//! A row's identity is its name, host and labels. Rows are hashed without building a label
//! set: two independent 64-bit hashes, each an order-independent sum over the pairs (so map
//! order does not matter). The first picks the slot, the second confirms it — a 128-bit
//! identity, so a lookup touches two small arrays instead of chasing a label set's strings
//! (which made lookups memory-bound); a clash of the first hash alone probes the next slot.
//! Only a new series allocates. Dense ids let every later step index plain vectors.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::hash::{for_words, hash_str, mix, FxMap};

use super::samples::{HOST_LABEL, NAME_LABEL};

/// A label set sorted by name; `__name__` included for series.
pub type LabelSet = Vec<(Arc<str>, Arc<str>)>;

/// The hash of one label pair; label-set hashes are wrapping sums of these.
#[inline]
pub fn pair_hash(k: &str, v: &str) -> u64 {
    mix(hash_str(k) ^ hash_str(v).rotate_left(29))
}

/// A second, independent hash of a pair: the check half of a series' identity.
#[inline]
fn pair_check(hk: u64, hv: u64) -> u64 {
    mix(hk.rotate_left(17) ^ hv ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xd6e8_feb8_6659_fd93)
}

/// Both identity hashes of a row: (slot hash, check hash).
pub fn row_identity(name: &str, host: Option<&str>, entries: &[(&str, &str)]) -> (u64, u64) {
    let (mut a, mut b) = (0u64, 0u64);
    let mut add = |k: &str, v: &str| {
        let (hk, hv) = (hash_str(k), hash_str(v));
        a = a.wrapping_add(mix(hk ^ hv.rotate_left(29)));
        b = b.wrapping_add(pair_check(hk, hv));
    };
    add(NAME_LABEL, name);
    if let Some(h) = host {
        add(HOST_LABEL, h);
    }
    for (k, v) in entries {
        add(k, v);
    }
    (
        mix(a),
        mix(b ^ (entries.len() as u64 + u64::from(host.is_some()))),
    )
}

/// A 128-bit key of a row as spelled: name, host and label entries in their order, each
/// string length-prefixed (two independent 64-bit chains, so that a clash needs both to
/// collide: the same standard as the series identity above). Cheaper than
/// [`row_identity`]: no per-pair mixing, no sort; the same series spelled in another label
/// order gets another key, which only costs a second memo entry.
pub fn raw_row_key<'a>(
    name: &str,
    host: Option<&str>,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> u128 {
    let mut h = RawHasher {
        a: 0x243f_6a88_85a3_08d3,
        b: 0x1319_8a2e_0370_7344,
    };
    h.str(name);
    match host {
        Some(s) => h.str(s),
        // A length no string has: no host differs from an empty host.
        None => h.word(u64::MAX),
    }
    for (k, v) in labels {
        h.str(k);
        h.str(v);
    }
    h.finish()
}

/// Like [`raw_row_key`] for a row whose name and host are known by `prefix` (their
/// dictionary key pair in a batch).
pub fn raw_labels_key<'a>(prefix: u64, labels: impl Iterator<Item = (&'a str, &'a str)>) -> u128 {
    let mut h = RawHasher {
        a: 0x243f_6a88_85a3_08d3,
        b: 0x1319_8a2e_0370_7344,
    };
    h.word(prefix);
    for (k, v) in labels {
        h.str(k);
        h.str(v);
    }
    h.finish()
}

/// Like [`raw_labels_key`] for labels whose keys and values are dictionary keys: the
/// entries as (key index, value index) in their order. Only comparable with keys made over
/// the same dictionaries.
pub fn dict_labels_key(prefix: u64, keys: &[i32], values: &[i32]) -> u128 {
    let mut h = RawHasher {
        a: 0x4528_21e6_38d0_1377,
        b: 0xbe54_66cf_34e9_0c6c,
    };
    h.word(prefix);
    h.word(keys.len() as u64);
    for (&k, &v) in keys.iter().zip(values) {
        h.word((u64::from(k as u32) << 32) | u64::from(v as u32));
    }
    h.finish()
}

struct RawHasher {
    a: u64,
    b: u64,
}

impl RawHasher {
    fn finish(&self) -> u128 {
        (u128::from(mix(self.a)) << 64) | u128::from(mix(self.b))
    }

    #[inline]
    fn word(&mut self, w: u64) {
        // Each step is a bijection of the state for a given word, so rows that differ in one
        // word always differ; a full mix per word made this chain the cost of a lookup.
        let a = (self.a ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.a = a ^ (a >> 32);
        self.b = (self.b.wrapping_add(w) ^ 0x9e37_79b9_7f4a_7c15)
            .wrapping_mul(0xd6e8_feb8_6659_fd93)
            .rotate_left(29);
    }

    #[inline]
    fn str(&mut self, s: &str) {
        self.word(s.len() as u64);
        for_words(s.as_bytes(), |w, _| self.word(w));
    }
}

/// Order-independent hash of a label set, skipping `__name__` when `with_name` is false.
pub fn labels_hash<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, with_name: bool) -> u64 {
    let mut acc = 0u64;
    for (k, v) in pairs {
        if !with_name && k == NAME_LABEL {
            continue;
        }
        acc = acc.wrapping_add(pair_hash(k, v));
    }
    mix(acc)
}

/// Look up a label in a sorted set.
pub fn get_label<'a>(set: &'a LabelSet, name: &str) -> Option<&'a str> {
    set.binary_search_by(|(k, _)| k.as_ref().cmp(name))
        .ok()
        .map(|i| set[i].1.as_ref())
}

/// Samples of one series in time order: (ms since epoch, value).
pub type Buffer = VecDeque<(i64, f64)>;

/// What inserting a sample did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    Appended,
    /// Arrived after newer samples of its series; placed in time order.
    Reordered,
    /// A second sample at the same timestamp; the first one is kept (as Prometheus does).
    Duplicate,
    /// Older than anything a future evaluation reads.
    TooOld,
    /// No rule reads this series.
    Unused,
}

/// The interned series and their buffers.
///
/// What a sample touches is kept in dense arrays of its own, not in one record per series:
/// the newest sample (16 bytes, so 100,000 series take 1.6 MB and stay in a core's L2) and a
/// byte saying how the series is kept. A record per series of 64 bytes (buffer header
/// included) made every sample of a large fleet a miss to L3.
#[derive(Default)]
pub struct SeriesTable {
    index: FxMap<u64, u32>,
    pub labels: Vec<Arc<LabelSet>>,
    /// Hash of each label set without `__name__`: alert identity and vector matching.
    pub hash_no_name: Vec<u64>,
    /// The check half of each series' identity (see the module docs).
    check: Vec<u64>,
    /// The newest sample of each series.
    latest: Vec<Latest>,
    /// How each series is kept.
    mode: Vec<Mode>,
    /// How far back the rules read each series (ms); 0 when no rule reads it.
    retention: Vec<i64>,
    /// The samples in time order of each `Mode::Buffered` series (empty for the others).
    bufs: Vec<Buffer>,
}

/// The newest sample of a series (ms, value).
#[derive(Clone, Copy, Debug)]
struct Latest {
    ts: i64,
    v: f64,
}

/// How a series is kept: what its rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// No rule reads it.
    Unread,
    /// Read by instant selectors only: its newest sample is all a step needs — one dense
    /// write per sample instead of a buffer (the threshold rules' hot path).
    Newest,
    /// A range function reads it: a buffer of its samples in time order.
    Buffered,
}

/// Ask the CPU to load the cache line at `p` (a hint: no effect on results).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is baseline on x86_64.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl SeriesTable {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The id of the series with identity `(hash, check)`, or the free slot key to
    /// insert it under.
    pub fn find(&self, hash: u64, check: u64) -> Result<u32, u64> {
        let mut key = hash;
        loop {
            match self.index.get(&key) {
                None => return Err(key),
                Some(&id) if self.check[id as usize] == check => return Ok(id),
                Some(_) => key = key.wrapping_add(1),
            }
        }
    }

    /// Intern a new series under the free `key` found by [`find`](Self::find).
    pub fn insert(&mut self, key: u64, check: u64, set: LabelSet) -> u32 {
        let id = self.labels.len() as u32;
        self.hash_no_name.push(labels_hash(
            set.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            false,
        ));
        self.labels.push(Arc::new(set));
        self.check.push(check);
        self.latest.push(Latest {
            ts: i64::MIN,
            v: f64::NAN,
        });
        self.mode.push(Mode::Unread);
        self.retention.push(0);
        self.bufs.push(Buffer::new());
        self.index.insert(key, id);
        id
    }

    /// Say how far back the rules read series `id` (0: not at all) and whether a range
    /// function reads it (only then are its samples buffered).
    pub fn set_reads(&mut self, id: u32, retention_ms: i64, buffered: bool) {
        let id = id as usize;
        self.retention[id] = retention_ms;
        self.mode[id] = match (retention_ms, buffered) {
            (0, _) => Mode::Unread,
            (_, false) => Mode::Newest,
            (_, true) => Mode::Buffered,
        };
    }

    /// The buffered samples of series `id` in time order (empty unless a range function
    /// reads it).
    #[inline]
    pub fn buffer(&self, id: u32) -> &Buffer {
        &self.bufs[id as usize]
    }

    /// Hint that a sample of series `id` comes soon: load what [`push`](Self::push) reads
    /// first. Ids out of range are ignored.
    #[inline]
    pub fn prefetch_series(&self, id: u32) {
        let id = id as usize;
        if id < self.latest.len() {
            prefetch(&self.latest[id]);
            // Only buffered series need their buffer's header: hinting every header would
            // fill the cache with 32 bytes per series that nothing reads.
            if self.mode[id] == Mode::Buffered {
                prefetch(&self.bufs[id]);
            }
        }
    }

    /// Hint that series `id`'s buffer is read or written soon: load its oldest and newest
    /// samples (the header should have been hinted by [`Self::prefetch_series`] first).
    #[inline]
    pub fn prefetch_buffer(&self, id: u32) {
        let id = id as usize;
        if id < self.mode.len() && self.mode[id] == Mode::Buffered {
            let buf = &self.bufs[id];
            if let (Some(front), Some(back)) = (buf.front(), buf.back()) {
                prefetch(front);
                prefetch(back);
            }
        }
    }

    /// Add a sample, keeping the buffer in time order and dropping what no evaluation
    /// after `horizon_ms` can read.
    #[inline(always)]
    pub fn push(&mut self, id: u32, ts: i64, value: f64, horizon_ms: i64) -> Inserted {
        let id = id as usize;
        let mode = self.mode[id];
        if mode == Mode::Unread {
            return Inserted::Unused;
        }
        let latest = &mut self.latest[id];
        let newest = latest.ts;
        if ts > newest {
            *latest = Latest { ts, v: value };
        }
        if mode == Mode::Newest {
            return if ts > newest {
                Inserted::Appended
            } else if ts == newest {
                Inserted::Duplicate
            } else {
                // Older than the newest, which every later step sees: nothing reads it.
                Inserted::Reordered
            };
        }
        self.push_buffered(id, ts, value, horizon_ms)
    }

    fn push_buffered(&mut self, id: usize, ts: i64, value: f64, horizon_ms: i64) -> Inserted {
        let oldest = horizon_ms.saturating_sub(self.retention[id]);
        if ts <= oldest {
            return Inserted::TooOld;
        }
        let buf = &mut self.bufs[id];
        while buf.front().is_some_and(|&(t, _)| t <= oldest) {
            buf.pop_front();
        }
        match buf.back() {
            None => {
                buf.push_back((ts, value));
                Inserted::Appended
            }
            Some(&(last, _)) if ts > last => {
                buf.push_back((ts, value));
                Inserted::Appended
            }
            Some(&(last, _)) if ts == last => Inserted::Duplicate,
            Some(_) => {
                let at = buf.partition_point(|&(t, _)| t < ts);
                if buf[at].0 == ts {
                    return Inserted::Duplicate;
                }
                buf.insert(at, (ts, value));
                Inserted::Reordered
            }
        }
    }

    /// The newest sample of series `id` at or before `t` within the lookback.
    pub fn instant(&self, id: u32, t: i64, lookback: i64) -> Option<f64> {
        let id = id as usize;
        if self.mode[id] != Mode::Buffered {
            let Latest { ts, v } = self.latest[id];
            return (ts <= t && ts > t - lookback).then_some(v);
        }
        let buf = &self.bufs[id];
        let hi = buf.partition_point(|&(ts, _)| ts <= t);
        (hi > 0 && buf[hi - 1].0 > t - lookback).then(|| buf[hi - 1].1)
    }
}

/// Build a sorted label set from a row.
pub fn row_label_set(name: &str, host: Option<&str>, entries: &[(&str, &str)]) -> LabelSet {
    let mut set: LabelSet = Vec::with_capacity(entries.len() + 2);
    set.push((Arc::from(NAME_LABEL), Arc::from(name)));
    if let Some(h) = host {
        set.push((Arc::from(HOST_LABEL), Arc::from(h)));
    }
    for (k, v) in entries {
        set.push((Arc::from(*k), Arc::from(*v)));
    }
    set.sort_by(|a, b| a.0.cmp(&b.0));
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_order_does_not_change_identity() {
        let a = row_identity("m", Some("h"), &[("a", "1"), ("b", "2")]);
        let b = row_identity("m", Some("h"), &[("b", "2"), ("a", "1")]);
        assert_eq!(a, b);
        let c = row_identity("m", Some("h"), &[("a", "2"), ("b", "1")]);
        assert_ne!(a.0, c.0);
        assert_ne!(a.1, c.1);
        // A host and a label named host are the same series; no host is another.
        assert_eq!(
            row_identity("m", Some("h"), &[]),
            row_identity("m", None, &[("host", "h")])
        );
        assert_ne!(
            row_identity("m", None, &[]),
            row_identity("m", Some(""), &[])
        );
    }

    #[test]
    fn raw_keys_tell_rows_apart() {
        let key = |name, host, labels: &[(&'static str, &'static str)]| {
            raw_row_key(name, host, labels.iter().copied())
        };
        let a = key("m", Some("h"), &[("a", "1")]);
        assert_eq!(a, key("m", Some("h"), &[("a", "1")]));
        // Boundaries between strings count: "a"+"1b" is not "a1"+"b".
        assert_ne!(
            key("m", None, &[("a", "1b")]),
            key("m", None, &[("a1", "b")])
        );
        assert_ne!(key("m", None, &[]), key("m", Some(""), &[]));
        assert_ne!(a, key("m", Some("h"), &[("a", "2")]));
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let v = format!("{i}");
            assert!(seen.insert(raw_row_key(
                "m",
                Some("host-000001"),
                [("cpu", v.as_str())].into_iter()
            )));
        }
    }

    #[test]
    fn similar_host_names_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let h = format!("host-{i:06}");
            assert!(seen.insert(row_identity("m", Some(&h), &[])), "{h}");
        }
    }

    #[test]
    fn clashing_slot_hashes_probe_to_the_next_key() {
        let mut t = SeriesTable::default();
        let key = 42;
        let id = t.insert(key, 7, row_label_set("m", None, &[("a", "1")]));
        assert_eq!(t.find(key, 7), Ok(id));
        // Another series whose slot hash clashes (check differs) lands on key + 1.
        assert_eq!(t.find(key, 8), Err(key + 1));
        let other = t.insert(key + 1, 8, row_label_set("m", None, &[("a", "2")]));
        assert_eq!(t.find(key, 8), Ok(other));
    }

    #[test]
    fn buffers_stay_ordered_and_bounded() {
        let mut t = SeriesTable::default();
        let id = t.insert(1, 1, row_label_set("m", None, &[]));
        t.set_reads(id, 100, true);
        assert_eq!(t.push(id, 10, 1.0, 0), Inserted::Appended);
        assert_eq!(t.push(id, 30, 3.0, 0), Inserted::Appended);
        assert_eq!(t.push(id, 20, 2.0, 0), Inserted::Reordered);
        assert_eq!(t.push(id, 20, 9.0, 0), Inserted::Duplicate);
        assert_eq!(t.push(id, 30, 9.0, 0), Inserted::Duplicate);
        let got: Vec<_> = t.buffer(id).iter().copied().collect();
        assert_eq!(got, [(10, 1.0), (20, 2.0), (30, 3.0)]);
        // Evaluations are past 125 now: only samples after 25 can still be read.
        assert_eq!(t.push(id, 24, 0.0, 125), Inserted::TooOld);
        assert_eq!(t.push(id, 40, 4.0, 125), Inserted::Appended);
        assert_eq!(t.buffer(id).front(), Some(&(30, 3.0)));
    }
}
