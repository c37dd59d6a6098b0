//! The engine: a batch's way through series ids, time buckets, per-series buffers and the
//! evaluation of each step (the plan in the module docs of `metrics`), the alert state
//! machine, and the saved state.

use std::collections::hash_map::Entry;
use std::collections::BTreeMap;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::ArrowError;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::eval::{Ctx, Val};
use super::expr::{Expr, Selector};
use super::samples::{SampleColumns, StrColumn, HOST_LABEL, NAME_LABEL};
use super::series::{row_label_set, Inserted, LabelSet, SeriesTable};

use crate::hash::FxMap;

use super::{eval, expr, samples, series};
use super::{AlertChange, AlertState, CompileError, RuleSpec, Settings, Stats};

#[derive(Clone, Debug)]
struct Alert {
    labels: Arc<LabelSet>,
    state: AlertState,
    active_at: i64,
    fired_at: Option<i64>,
    value: f64,
    /// When a firing alert's result last went missing (for `keep_firing_for`).
    keep_since: Option<i64>,
    /// The last evaluation whose result had this alert's label set.
    seen: i64,
}

struct CompiledRule {
    name: String,
    expr: Expr,
    for_ms: i64,
    keep_ms: i64,
    /// Active alerts by label hash (changes come out sorted by it, see `update_alerts`).
    alerts: FxMap<u64, Alert>,
    last_error: Option<String>,
}

/// How many rows (or series) ahead the state of a series is hinted to the CPU, and its
/// buffer after that (see the insert loop in `run`).
pub(crate) const PREFETCH_SERIES: usize = 16;
pub(crate) const PREFETCH_BUFFER: usize = 8;
/// Rows per chunk of the keyed path's insert loop.
const KEYED_CHUNK: usize = 1024;

/// Rule sets at least this large evaluate their rules on all cores.
const PARALLEL_RULES: usize = 16;

/// Markers in the per-batch key-pair table: not looked up yet; a metric no rule reads.
const UNRESOLVED: u32 = u32::MAX;
const UNUSED: u32 = u32::MAX - 1;

/// Series ids by (name, host) dictionary key pair, valid while the dictionaries are these.
struct PairCache {
    name: ArrayRef,
    host: Option<ArrayRef>,
    dense: Vec<u32>,
    /// Rows with labels: by key pair and the labels as spelled ([`series::raw_labels_key`]).
    labelled: FxMap<u128, u32>,
    /// Rows with dictionary-encoded labels: by key pair and label keys
    /// ([`series::dict_labels_key`]), valid while the label dictionaries are these.
    by_label_keys: Option<LabelKeyed>,
}

/// Series ids by key pair and dictionary keys of the labels, with the dictionaries.
///
/// Rows carry few distinct label sets ("combos": `cpu="0"`..`cpu="7"`) over many hosts, so
/// a row resolves through its combo (a small map that stays in L1) and then a dense table
/// indexed by combo and key pair: one independent load per row, as for rows without
/// labels. Past [`COMBO_TABLE_MAX`] entries, further combos go through a hash map.
struct LabelKeyed {
    keys: ArrayRef,
    values: ArrayRef,
    /// Combo number by the labels' dictionary keys ([`series::dict_labels_key`] with no
    /// prefix); combos numbered past the dense table's end use `ids`.
    combos: FxMap<u128, u32>,
    /// Series id (or UNRESOLVED/UNUSED) at `combo * pairs + pair`.
    table: Vec<u32>,
    /// Series id by (combo, pair) for combos beyond the dense table.
    ids: FxMap<u64, u32>,
    /// Combo number of a one-label row by `key index × values + value index`, when the
    /// dictionaries are small enough (no hashing for the commonest shape); empty otherwise.
    single: Vec<u32>,
    /// How large `table` may grow: [`COMBO_TABLE_MAX`], or less for a small batch with
    /// dictionaries of its own (an API request), which should not fill megabytes it never
    /// reads again.
    table_max: usize,
}

/// One-label rows skip hashing while (label names × label values) stays under this.
const SINGLE_LABEL_MAX: usize = 1 << 16;

/// The dense (combo, key pair) table grows up to this many entries (16 MB); small under
/// test, so that the tests reach the combos past it.
const COMBO_TABLE_MAX: usize = if cfg!(test) { 64 } else { 1 << 22 };

impl LabelKeyed {
    /// Where the series id of the row with key pair `p` (of `pairs`) and label keys `k`/`v`
    /// lives: `Ok(index)` into the dense table, or `Err(key)` into the map past it (the
    /// combo number above bit 40, the pair below: [`bound`](Self::bound) keeps combos under
    /// 2^22, and a batch has fewer than 2^40 pairs).
    #[inline]
    fn locate(&mut self, p: usize, pairs: usize, k: &[i32], v: &[i32]) -> Result<usize, u64> {
        // One-label rows find their combo by index; the others (and a first sighting) by
        // the hash of their label keys.
        let single = match (k, v) {
            ([k], [v]) => (*k as usize)
                .checked_mul(self.values.len())
                .and_then(|i| i.checked_add(*v as usize))
                .filter(|&i| i < self.single.len()),
            _ => None,
        };
        let known = single.map_or(UNRESOLVED, |i| self.single[i]);
        let (combo, new) = if known != UNRESOLVED {
            (known as usize, false)
        } else {
            let key = series::dict_labels_key(0, k, v);
            let next = self.combos.len() as u32;
            let combo = *self.combos.entry(key).or_insert(next);
            if let Some(i) = single {
                self.single[i] = combo;
            }
            (combo as usize, combo == next)
        };
        // A new combo gets its stretch of the table while there is room (combos are
        // numbered in order, so the ones with a stretch are exactly the first few).
        if new && self.table.len() + pairs <= self.table_max {
            self.table.resize(self.table.len() + pairs, UNRESOLVED);
        }
        if (combo + 1) * pairs <= self.table.len() {
            Ok(combo * pairs + p)
        } else {
            Err(((combo as u64) << 40) | p as u64)
        }
    }

    /// Bound the memo like the others (what is dropped is only looked up again): called
    /// between chunks of rows, so that no index handed out for a chunk goes stale.
    fn bound(&mut self, rows: usize) {
        if self.combos.len() + rows > MEMO_MAX {
            self.combos.clear();
            self.table.clear();
            self.ids.clear();
            self.single.fill(UNRESOLVED);
        }
    }

    /// The map slot for a key from [`locate`](Self::locate).
    fn map_slot(&mut self, key: u64) -> &mut u32 {
        if self.ids.len() >= MEMO_MAX && !self.ids.contains_key(&key) {
            self.ids.clear();
        }
        self.ids.entry(key).or_insert(UNRESOLVED)
    }
}

/// Where a row's series id lives on the dictionary path (see `ingest_keyed`): the tag in
/// the top two bits; below, an index into the key-pair or combo table, or the combo map's
/// key.
const LOC_DENSE: u64 = 0;
const LOC_TABLE: u64 = 1 << 62;
const LOC_MAP: u64 = 2 << 62;
const LOC_MASK: u64 = (1 << 62) - 1;

/// The values of column `name` when it is dictionary-encoded.
fn dict_values(batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
    let i = batch.schema().index_of(name).ok()?;
    Some(batch.column(i).as_any_dictionary_opt()?.values().clone())
}

/// Whether two arrays are the same memory (same buffers, offset and length).
fn same_array(a: &ArrayRef, b: &ArrayRef) -> bool {
    a.to_data().ptr_eq(&b.to_data())
}

/// The memo of row spellings is emptied past this many entries.
const MEMO_MAX: usize = 1 << 22;

/// The row buffer kept between batches is dropped past this many rows.
const SCRATCH_ROWS: usize = 1 << 22;

/// The key-pair table of a batch (see [`MetricEngine::take_pairs`]).
struct Pairs {
    /// The host dictionary's size plus one (key 0: no host), when the name and host
    /// columns allow key pairs at all.
    host_card: Option<usize>,
    dense: Vec<u32>,
    labelled: FxMap<u128, u32>,
    by_label_keys: Option<LabelKeyed>,
    name_dict: Option<ArrayRef>,
    host_dict: Option<ArrayRef>,
}

/// A row resolved to its series.
#[derive(Clone, Copy)]
struct Row {
    id: u32,
    ts: i64,
    v: f64,
}

/// The metric rules of one engine with their state.
pub struct MetricEngine {
    settings: Settings,
    rules: Vec<CompiledRule>,
    /// Each selector with how far back it reads and whether it is a range selector.
    selectors: Vec<(Selector, i64, bool)>,
    selector_series: Vec<Vec<u32>>,
    /// Selectors by fixed metric name, and those without one (tested on every new series).
    by_name: FxMap<String, Vec<usize>>,
    nameless: Vec<usize>,
    series: SeriesTable,
    last_eval: Option<i64>,
    watermark: Option<i64>,
    newest: i64,
    /// Past this much time after the newest sample, every step is empty and settled.
    quiet_after_ms: i64,
    stats: Stats,
    /// Resolved rows of the batch being ingested, reused across batches.
    scratch: Vec<Row>,
    /// The dense key-pair table of the last batch with the dictionaries it indexes.
    pair_cache: Option<PairCache>,
    /// Series id (or UNUSED) by a row's raw spelling ([`series::raw_row_key`]): ids are
    /// never reused, so an entry stays true for the engine's life.
    row_memo: FxMap<u128, u32>,
}

#[derive(Serialize, Deserialize)]
struct SavedAlert {
    labels: Vec<(String, String)>,
    state: AlertState,
    active_at: i64,
    fired_at: Option<i64>,
    value: Option<f64>,
    keep_since: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    settings: Settings,
    last_eval: Option<i64>,
    watermark: Option<i64>,
    alerts: BTreeMap<String, Vec<SavedAlert>>,
}

const STATE_VERSION: u32 = 1;

impl MetricEngine {
    /// Compile `rules`; the error names the rule (by index) and the place in its expression.
    pub fn new(rules: &[RuleSpec], settings: Settings) -> Result<MetricEngine, CompileError> {
        if settings.step_ms <= 0 || settings.lookback_ms <= 0 {
            return Err(CompileError {
                rule: usize::MAX,
                message: "step and lookback must be positive".into(),
            });
        }
        let mut engine = MetricEngine {
            settings,
            rules: Vec::new(),
            selectors: Vec::new(),
            selector_series: Vec::new(),
            by_name: FxMap::default(),
            nameless: Vec::new(),
            series: SeriesTable::default(),
            last_eval: None,
            watermark: None,
            newest: i64::MIN,
            quiet_after_ms: 0,
            stats: Stats::default(),
            scratch: Vec::new(),
            row_memo: FxMap::default(),
            pair_cache: None,
        };
        let mut longest = settings.lookback_ms;
        let (mut longest_for, mut longest_keep) = (0, 0);
        for (i, spec) in rules.iter().enumerate() {
            let fail = |message: String| CompileError { rule: i, message };
            let mut parsed = expr::parse(&spec.expr).map_err(|e| fail(format!("expr: {e}")))?;
            if parsed.value_type() != expr::ValueType::Vector {
                return Err(fail(format!(
                    "expr: the result must be an instant vector (one value per series), not {}",
                    parsed.value_type()
                )));
            }
            if spec.for_ms < 0 || spec.keep_firing_for_ms < 0 {
                return Err(fail("for/keep_firing_for must not be negative".into()));
            }
            parsed.visit_selectors(&mut |sel, range| {
                let id = engine.selectors.len();
                let is_range = range.is_some();
                let range = range.unwrap_or(settings.lookback_ms);
                sel.id = id;
                longest = longest.max(range);
                match &sel.name {
                    Some(n) => engine.by_name.entry(n.clone()).or_default().push(id),
                    None => engine.nameless.push(id),
                }
                engine.selectors.push((sel.clone(), range, is_range));
                engine.selector_series.push(Vec::new());
            });
            longest_for = longest_for.max(spec.for_ms);
            longest_keep = longest_keep.max(spec.keep_firing_for_ms);
            engine.rules.push(CompiledRule {
                name: spec.name.clone(),
                expr: parsed,
                for_ms: spec.for_ms,
                keep_ms: spec.keep_firing_for_ms,
                alerts: FxMap::default(),
                last_error: None,
            });
        }
        engine.quiet_after_ms = longest + longest_for + longest_keep + 2 * settings.step_ms;
        Ok(engine)
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.series = self.series.len() as u64;
        s
    }

    /// The last evaluation error of each rule that had one.
    pub fn rule_errors(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter_map(|r| r.last_error.clone().map(|e| (r.name.clone(), e)))
            .collect()
    }

    /// The last evaluated step (ms), if any.
    pub fn last_evaluation(&self) -> Option<i64> {
        self.last_eval
    }

    /// The longest time back any rule reads (ms): what to reload after a restart.
    pub fn history_needed_ms(&self) -> i64 {
        self.selectors
            .iter()
            .map(|(_, r, _)| *r)
            .max()
            .unwrap_or(0)
            .max(self.settings.lookback_ms)
    }

    /// Whether any rule reads metric `name`.
    pub fn reads_metric(&self, name: &str) -> bool {
        !self.nameless.is_empty() || self.by_name.contains_key(name)
    }

    /// Register a new series and the selectors it belongs to.
    fn new_series(&mut self, key: u64, check: u64, set: LabelSet) -> u32 {
        let name = series::get_label(&set, NAME_LABEL)
            .unwrap_or("")
            .to_string();
        let id = self.series.insert(key, check, set);
        let set = self.series.labels[id as usize].clone();
        let candidates = self
            .by_name
            .get(&name)
            .into_iter()
            .flatten()
            .chain(self.nameless.iter());
        let (mut keep, mut buffered) = (0, false);
        for &sel in candidates {
            let (s, range, is_range) = &self.selectors[sel];
            let all = s
                .matchers
                .iter()
                .all(|m| m.matches(series::get_label(&set, &m.label).unwrap_or("")));
            if all {
                self.selector_series[sel].push(id);
                keep = keep.max(*range);
                buffered |= *is_range;
            }
        }
        self.series.set_reads(id, keep, buffered);
        id
    }

    /// The table of (name, host) dictionary key pairs for this batch: the last batch's when
    /// the dictionaries are the same, else a fresh one (empty when the pairs are too many to
    /// index densely: rows then resolve through a hash map).
    fn take_pairs(&mut self, batch: &RecordBatch, cols: &SampleColumns<'_>) -> Pairs {
        // The common shape of collector batches: name and host dictionary-encoded (or no
        // host). A row without labels is resolved once per distinct (name, host) key pair,
        // through a dense table of the key pairs when it is small (a hash map otherwise); a
        // row with labels through the pair and its labels (`LabelKeyed`, or a memo of their
        // bytes on the general path); every other row is hashed from its strings.
        let host_card = match (&cols.host, cols.host.dict_len()) {
            (_, Some(n)) => Some(n + 1),
            (StrColumn::Null, None) => Some(1),
            _ => None,
        };
        let pairs = cols
            .name
            .dict_len()
            .zip(host_card)
            .map(|(n, h)| n.saturating_mul(h));
        // Batches cut from one table share their dictionaries: the table of key pairs then
        // carries over (held dictionaries cannot be freed, so equal buffers mean equal
        // strings), and a batch resolves no pair twice.
        let name_dict = dict_values(batch, "name");
        let host_dict = dict_values(batch, "host");
        let cached = self.pair_cache.take().filter(|c| {
            Some(c.dense.len()) == pairs
                && name_dict.as_ref().is_some_and(|n| same_array(n, &c.name))
                && match (&host_dict, &c.host) {
                    (Some(a), Some(b)) => same_array(a, b),
                    (None, None) => true,
                    _ => false,
                }
        });
        let (dense, labelled, by_label_keys) = match (cached, pairs) {
            (Some(c), _) => (c.dense, c.labelled, c.by_label_keys),
            (None, Some(p)) if p <= cols.len.saturating_mul(4) + 1024 => {
                (vec![UNRESOLVED; p], FxMap::default(), None)
            }
            _ => (Vec::new(), FxMap::default(), None),
        };
        Pairs {
            host_card,
            dense,
            labelled,
            by_label_keys,
            name_dict,
            host_dict,
        }
    }

    /// Keep the key-pair table for the next batch (when it indexes dictionaries).
    fn keep_pairs(&mut self, p: Pairs) {
        if let (Some(name), false) = (p.name_dict, p.dense.is_empty()) {
            self.pair_cache = Some(PairCache {
                name,
                host: p.host_dict,
                dense: p.dense,
                labelled: p.labelled,
                by_label_keys: p.by_label_keys,
            });
        }
    }

    /// The series of row `i` from its strings (UNUSED for a metric no rule reads), None
    /// when the row has no name.
    fn lookup_row<'c>(
        &mut self,
        cols: &SampleColumns<'c>,
        i: usize,
        entries: &mut Vec<(&'c str, &'c str)>,
    ) -> Option<u32> {
        let name = cols.name.get(i)?;
        let host = cols.host.get(i);
        // Rows seen before in the same spelling (strings in the same order) skip the
        // order-independent identity and the series index: one cheap hash of the row's
        // bytes and one memo lookup.
        let raw = series::raw_row_key(name, host, cols.labels(i));
        if let Some(&id) = self.row_memo.get(&raw) {
            return Some(id);
        }
        let id = if self.reads_metric(name) {
            entries.clear();
            entries.extend(
                cols.labels(i)
                    .filter(|(k, _)| *k != NAME_LABEL && !(host.is_some() && *k == HOST_LABEL)),
            );
            let (hash, check) = series::row_identity(name, host, entries);
            match self.series.find(hash, check) {
                Ok(id) => id,
                Err(key) => self.new_series(key, check, row_label_set(name, host, entries)),
            }
        } else {
            UNUSED
        };
        if self.row_memo.len() >= MEMO_MAX {
            // Bounded: many spellings of few series (label order shuffled per row) must
            // not grow it without end.
            self.row_memo.clear();
        }
        self.row_memo.insert(raw, id);
        Some(id)
    }

    /// Resolve a batch's rows to series ids, skipping metrics no rule reads.
    fn resolve(&mut self, batch: &RecordBatch, rows: &mut Vec<Row>) -> Result<(), ArrowError> {
        let cols = SampleColumns::new(batch)?;
        rows.reserve(cols.len);
        let mut pairs = self.take_pairs(batch, &cols);
        let (host_card, dense, labelled) = (pairs.host_card, &mut pairs.dense, &mut pairs.labelled);
        let mut sparse: FxMap<usize, u32> = FxMap::default();
        let mut entries: Vec<(&str, &str)> = Vec::new();
        for i in 0..cols.len {
            let Some(ts) = cols.ts.get(i) else {
                self.stats.invalid += 1;
                continue;
            };
            if cols.value.is_null(i) {
                self.stats.invalid += 1;
                continue;
            }
            // A row with labels whose name and host are dictionary keys is known by its key
            // pair and its labels' bytes: the host string is never read.
            let (pair, with_labels) = match (cols.name.dict_key(i), host_card) {
                (Some(n), Some(hc)) => {
                    let p = n * hc + cols.host.dict_key(i).map_or(0, |k| k + 1);
                    if !cols.has_labels(i) {
                        (Some(p), None)
                    } else if !dense.is_empty() {
                        (None, Some(series::raw_labels_key(p as u64, cols.labels(i))))
                    } else {
                        (None, None)
                    }
                }
                _ => (None, None),
            };
            let known = match (pair, with_labels) {
                (Some(p), _) if !dense.is_empty() => dense[p],
                (Some(p), _) => sparse.get(&p).copied().unwrap_or(UNRESOLVED),
                (None, Some(k)) => labelled.get(&k).copied().unwrap_or(UNRESOLVED),
                (None, None) => UNRESOLVED,
            };
            let id = if known != UNRESOLVED {
                known
            } else {
                let Some(id) = self.lookup_row(&cols, i, &mut entries) else {
                    self.stats.invalid += 1;
                    continue;
                };
                match (pair, with_labels) {
                    (Some(p), _) if !dense.is_empty() => dense[p] = id,
                    (Some(p), _) => {
                        sparse.insert(p, id);
                    }
                    (None, Some(k)) => {
                        if labelled.len() >= MEMO_MAX {
                            labelled.clear();
                        }
                        labelled.insert(k, id);
                    }
                    (None, None) => {}
                }
                id
            };
            self.stats.samples += 1;
            if id == UNUSED {
                // Kept as a row without a series: its time still moves the evaluation on
                // (an `absent(...)` rule needs time to pass, whatever metric shows it).
                self.stats.unused += 1;
            }
            rows.push(Row {
                id,
                ts,
                v: cols.value.value(i),
            });
        }
        self.keep_pairs(pairs);
        Ok(())
    }

    /// Take in a batch of samples (metrics schema) and evaluate every step it completes.
    pub fn ingest(&mut self, batch: &RecordBatch) -> Result<Vec<AlertChange>, ArrowError> {
        if let Some(out) = self.ingest_keyed(batch)? {
            return Ok(out);
        }
        let mut rows = std::mem::take(&mut self.scratch);
        rows.clear();
        if let Err(e) = self.resolve(batch, &mut rows) {
            self.scratch = rows;
            return Err(e);
        }
        let Some(max_ts) = rows.iter().map(|r| r.ts).max() else {
            self.scratch = rows;
            return Ok(Vec::new());
        };
        let min_ts = rows.iter().map(|r| r.ts).min().unwrap_or(max_ts);
        let (base, last_k) = self.clock(min_ts, max_ts);
        let out = self.run(&rows, base, last_k);
        // The row buffer is kept for the next batch (no fresh pages per batch), unless a
        // huge batch made it large.
        if rows.capacity() <= SCRATCH_ROWS {
            self.scratch = rows;
        }
        Ok(out)
    }

    /// The evaluation base and the last step a batch spanning `min_ts..=max_ts` completes
    /// (the watermark moves on to `max_ts`).
    fn clock(&mut self, min_ts: i64, max_ts: i64) -> (i64, i64) {
        let step = self.settings.step_ms;
        let base = *self
            .last_eval
            .get_or_insert_with(|| (min_ts - 1).div_euclid(step) * step);
        let watermark = self.watermark.map_or(max_ts, |w| w.max(max_ts));
        self.watermark = Some(watermark);
        // Steps t = base + k·step with t < watermark: a newer sample proves t has passed.
        let last_k = if watermark > base {
            (watermark - base - 1) / step
        } else {
            0
        };
        (base, last_k)
    }

    /// The path of collector-shaped batches (name and host dictionary-encoded, labels absent
    /// or dictionary-encoded, no nulls, times in order bucket by bucket), without a row buffer: each row goes
    /// from the Arrow columns through the key-pair table straight into its series. None
    /// when the batch has another shape (the general path takes it).
    fn ingest_keyed(
        &mut self,
        batch: &RecordBatch,
    ) -> Result<Option<Vec<AlertChange>>, ArrowError> {
        let cols = SampleColumns::new(batch)?;
        let (Some(name_keys), Some((ts, unit))) = (cols.name.dense_keys(), cols.ts.raw()) else {
            return Ok(None);
        };
        let host_keys = match cols.host {
            StrColumn::Null => None,
            _ => match cols.host.dense_keys() {
                Some(k) => Some(k),
                None => return Ok(None),
            },
        };
        let values = cols.value.values();
        // A null among the name dictionary's strings makes its rows invalid: the general
        // path counts them so (and keeps their times out of the clock).
        let null_names = dict_values(batch, "name").is_none_or(|v| v.null_count() > 0);
        if cols.len == 0 || cols.value.null_count() > 0 || null_names {
            return Ok(None);
        }
        // Labels, when there are any, as dictionary keys: (offsets, keys, values).
        let labels = match cols.labels {
            _ if cols.no_labels() => None,
            Some(m) if m.null_count() == 0 => {
                match (cols.label_keys.dense_keys(), cols.label_values.dense_keys()) {
                    (Some(k), Some(v)) => Some((m.value_offsets(), k, v)),
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let mut pairs = self.take_pairs(batch, &cols);
        let Some(hc) = pairs.host_card.filter(|_| !pairs.dense.is_empty()) else {
            self.keep_pairs(pairs);
            return Ok(None);
        };
        if labels.is_some() {
            let map = cols.labels.expect("labels present");
            let entries = map.entries();
            let dicts = [entries.column(0), entries.column(1)].map(|c| {
                c.as_any_dictionary_opt()
                    .expect("dictionary keys")
                    .values()
                    .clone()
            });
            let [keys, values] = dicts;
            let same = pairs
                .by_label_keys
                .as_ref()
                .is_some_and(|l| same_array(&l.keys, &keys) && same_array(&l.values, &values));
            // Batches cut from one table share the table: the largest of them sizes it.
            let table_max = COMBO_TABLE_MAX.min(cols.len.saturating_mul(4).max(1 << 16));
            if let Some(l) = pairs.by_label_keys.as_mut().filter(|_| same) {
                l.table_max = l.table_max.max(table_max);
            }
            if !same {
                let small = keys.len().saturating_mul(values.len()) <= SINGLE_LABEL_MAX;
                let single = if small {
                    vec![UNRESOLVED; keys.len() * values.len()]
                } else {
                    Vec::new()
                };
                pairs.by_label_keys = Some(LabelKeyed {
                    keys,
                    values,
                    combos: FxMap::default(),
                    table: Vec::new(),
                    ids: FxMap::default(),
                    single,
                    table_max,
                });
            }
        }
        let ms = |i: usize| samples::to_ms(ts[i], unit);
        let (lo, hi) = ts
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let (min_ts, max_ts) = (samples::to_ms(lo, unit), samples::to_ms(hi, unit));
        // The clock only moves once the batch is known to be taken here.
        let step = self.settings.step_ms;
        let base = self
            .last_eval
            .unwrap_or_else(|| (min_ts - 1).div_euclid(step) * step);
        let watermark = self.watermark.map_or(max_ts, |w| w.max(max_ts));
        let last_k = if watermark > base {
            (watermark - base - 1) / step
        } else {
            0
        };
        let Some(segments) = bucket_segments(cols.len, ms, base, step, last_k + 1) else {
            self.keep_pairs(pairs);
            return Ok(None);
        };
        let clock = self.clock(min_ts, max_ts);
        debug_assert_eq!(clock, (base, last_k));
        self.stats.samples += cols.len as u64;
        let n_pairs = pairs.dense.len();
        let (dense, by_label_keys) = (&mut pairs.dense, &mut pairs.by_label_keys);
        let mut entries = Vec::new();
        let out = self.run_segments(
            &segments,
            cols.len,
            base,
            last_k,
            |eng, start, end, horizon| {
                // In chunks that stay in L1: times converted and series ids looked up first (the
                // table lookups are independent, so the CPU overlaps them), then the inserts,
                // each series' state hinted a few rows ahead.
                let mut ids = [0u32; KEYED_CHUNK];
                let mut locs = [0u64; KEYED_CHUNK];
                let mut times = [0i64; KEYED_CHUNK];
                let (mut newest, mut unused) = (eng.newest, 0u64);
                let mut at = start;
                while at < end {
                    let n = (end - at).min(KEYED_CHUNK);
                    samples::to_ms_into(&ts[at..at + n], unit, &mut times);
                    let names = &name_keys[at..at + n];
                    // First where each row's id lives, with that place hinted to the CPU;
                    // then the ids, whose loads are then in flight side by side (the
                    // table of label sets by host is larger than the L2).
                    if let Some(lk) = by_label_keys.as_mut() {
                        lk.bound(n);
                    }
                    let mut locate = |j: usize, p: usize| -> u64 {
                        let i = at + j;
                        // A row with labels is known by its key pair and its labels' keys.
                        match labels {
                            Some((o, k, v)) if o[i + 1] > o[i] => {
                                let (from, to) = (o[i] as usize, o[i + 1] as usize);
                                let lk = by_label_keys.as_mut().expect("label table");
                                match lk.locate(p, n_pairs, &k[from..to], &v[from..to]) {
                                    Ok(index) => {
                                        series::prefetch(&lk.table[index]);
                                        LOC_TABLE | index as u64
                                    }
                                    // Looked up in the second pass like the others, so
                                    // that new series are numbered in row order.
                                    Err(key) => LOC_MAP | key,
                                }
                            }
                            _ => {
                                series::prefetch(&dense[p]);
                                LOC_DENSE | p as u64
                            }
                        }
                    };
                    match host_keys {
                        Some(hosts) => {
                            for (j, (&nk, &hk)) in names.iter().zip(&hosts[at..at + n]).enumerate()
                            {
                                locs[j] = locate(j, nk as usize * hc + hk as usize + 1);
                            }
                        }
                        None => {
                            for (j, &nk) in names.iter().enumerate() {
                                locs[j] = locate(j, nk as usize * hc);
                            }
                        }
                    }
                    for j in 0..n {
                        let (tag, index) = (locs[j] & !LOC_MASK, (locs[j] & LOC_MASK) as usize);
                        let slot = match tag {
                            LOC_DENSE => &mut dense[index],
                            LOC_TABLE => {
                                &mut by_label_keys.as_mut().expect("label table").table[index]
                            }
                            _ => by_label_keys
                                .as_mut()
                                .expect("label table")
                                .map_slot(index as u64),
                        };
                        if *slot == UNRESOLVED {
                            // Names are never null on this path (checked above).
                            *slot = eng
                                .lookup_row(&cols, at + j, &mut entries)
                                .unwrap_or(UNUSED);
                        }
                        ids[j] = *slot;
                    }
                    let vals = &values[at..at + n];
                    for j in 0..n {
                        if let Some(&ahead) = ids[..n].get(j + PREFETCH_SERIES) {
                            eng.series.prefetch_series(ahead);
                        }
                        if let Some(&ahead) = ids[..n].get(j + PREFETCH_BUFFER) {
                            eng.series.prefetch_buffer(ahead);
                        }
                        let (id, t) = (ids[j], times[j]);
                        newest = newest.max(t);
                        if id == UNUSED {
                            unused += 1;
                            continue;
                        }
                        let inserted = eng.series.push(id, t, vals[j], horizon);
                        if inserted != Inserted::Appended {
                            eng.count(inserted);
                        }
                    }
                    at += n;
                }
                eng.newest = newest;
                eng.stats.unused += unused;
            },
        );
        self.keep_pairs(pairs);
        Ok(Some(out))
    }

    /// Evaluate every step up to `until_ms` (inclusive) without new samples: wall-clock
    /// time passing for a live engine whose sources went quiet.
    pub fn advance_to(&mut self, until_ms: i64) -> Vec<AlertChange> {
        let Some(base) = self.last_eval else {
            return Vec::new();
        };
        if until_ms <= base {
            return Vec::new();
        }
        let last_k = (until_ms - base) / self.settings.step_ms;
        self.watermark = Some(self.watermark.map_or(until_ms, |w| w.max(until_ms)));
        self.run(&[], base, last_k)
    }

    /// Insert rows bucket by bucket, evaluating steps 1..=last_k after base in between.
    fn run(&mut self, rows: &[Row], base: i64, last_k: i64) -> Vec<AlertChange> {
        let step = self.settings.step_ms;
        let after = last_k + 1;
        let bucket = |ts: i64| -> i64 {
            if ts <= base {
                0
            } else {
                ((ts - base + step - 1) / step).min(after)
            }
        };
        // Rows in arrival order come bucket by bucket already: read them in place. Only a
        // batch whose buckets go back is reordered (a stable counting pass).
        let reordered;
        let (rows, segments) = match bucket_segments(rows.len(), |i| rows[i].ts, base, step, after)
        {
            Some(segments) => (rows, segments),
            None => {
                let (ordered, buckets) = bucket_rows(rows.to_vec(), after, bucket);
                let mut segments: Vec<(usize, i64)> = Vec::new();
                for (i, &b) in buckets.iter().enumerate() {
                    if segments.last().is_none_or(|&(_, last)| last != b) {
                        segments.push((i, b));
                    }
                }
                reordered = ordered;
                (&reordered[..], segments)
            }
        };
        self.run_segments(
            &segments,
            rows.len(),
            base,
            last_k,
            |eng, start, end, horizon| {
                let segment = &rows[start..end];
                for (j, &r) in segment.iter().enumerate() {
                    // Series state is random access over the fleet: the rows ahead are hinted
                    // in two stages (the series' own state, then its buffer's ends, read from
                    // the header the first hint loaded) so that their loads overlap.
                    if let Some(ahead) = segment.get(j + PREFETCH_SERIES) {
                        eng.series.prefetch_series(ahead.id);
                    }
                    if let Some(ahead) = segment.get(j + PREFETCH_BUFFER) {
                        eng.series.prefetch_buffer(ahead.id);
                    }
                    eng.insert(r, horizon);
                }
            },
        )
    }

    /// For each segment `(first row, bucket)` of `n` rows: evaluate the steps before its
    /// bucket, `insert(engine, start, end, horizon)` its rows, evaluate its step.
    fn run_segments(
        &mut self,
        segments: &[(usize, i64)],
        n: usize,
        base: i64,
        last_k: i64,
        mut insert: impl FnMut(&mut Self, usize, usize, i64),
    ) -> Vec<AlertChange> {
        let step = self.settings.step_ms;
        let mut changes = Vec::new();
        let mut k_done = 0i64;
        for (si, &(start, b)) in segments.iter().enumerate() {
            let end = segments.get(si + 1).map_or(n, |s| s.0);
            self.steps(base, k_done + 1, (b - 1).min(last_k), &mut changes);
            let horizon = base + (b - 1).max(0) * step;
            insert(self, start, end, horizon);
            if b >= 1 && b <= last_k {
                self.evaluate(base + b * step, &mut changes);
                self.last_eval = Some(base + b * step);
            }
            k_done = k_done.max(b.min(last_k));
        }
        self.steps(base, k_done + 1, last_k, &mut changes);
        changes
    }

    fn insert(&mut self, r: Row, horizon: i64) {
        self.newest = self.newest.max(r.ts);
        if r.id == UNUSED {
            return;
        }
        let inserted = self.series.push(r.id, r.ts, r.v, horizon);
        self.count(inserted);
    }

    #[inline]
    fn count(&mut self, inserted: Inserted) {
        match inserted {
            Inserted::Appended | Inserted::Unused => {}
            Inserted::Reordered => self.stats.reordered += 1,
            Inserted::Duplicate => self.stats.duplicates += 1,
            Inserted::TooOld => self.stats.too_old += 1,
        }
    }

    /// Evaluate steps `from..=to` with no new samples, skipping the quiet tail.
    fn steps(&mut self, base: i64, from: i64, to: i64, changes: &mut Vec<AlertChange>) {
        let step = self.settings.step_ms;
        for k in from..=to {
            let t = base + k * step;
            if t.saturating_sub(self.newest) > self.quiet_after_ms {
                // Every window is empty and every alert settled: later steps change nothing.
                self.last_eval = Some(base + to * step);
                return;
            }
            self.evaluate(t, changes);
            self.last_eval = Some(t);
        }
    }

    fn evaluate(&mut self, t: i64, changes: &mut Vec<AlertChange>) {
        self.stats.evaluations += 1;
        let ctx = Ctx {
            series: &self.series,
            selector_series: &self.selector_series,
            t,
            lookback_ms: self.settings.lookback_ms,
        };
        // Rules only read the series and each owns its alerts, so many rules evaluate in
        // parallel; changes are joined in rule order, whatever the thread count.
        let per_rule = |(ri, rule): (usize, &mut CompiledRule)| -> (Vec<AlertChange>, u64) {
            let mut out = Vec::new();
            match ctx.eval(&rule.expr) {
                Ok(Val::Vector(v)) => {
                    rule.last_error = None;
                    update_alerts(rule, ri, t, &ctx, v, &mut out);
                    (out, 0)
                }
                Ok(Val::Scalar(_)) => unreachable!("rules are checked to give vectors"),
                Err(e) => {
                    // As in Prometheus, a failed evaluation leaves the alerts as they were.
                    rule.last_error = Some(e);
                    (out, 1)
                }
            }
        };
        let results: Vec<(Vec<AlertChange>, u64)> = if self.rules.len() >= PARALLEL_RULES {
            self.rules
                .par_iter_mut()
                .enumerate()
                .map(per_rule)
                .collect()
        } else {
            self.rules.iter_mut().enumerate().map(per_rule).collect()
        };
        for (out, errors) in results {
            changes.extend(out);
            self.stats.eval_errors += errors;
        }
    }

    /// The alert state as JSON (alerts per rule name and the evaluation clock).
    pub fn save_state(&self) -> String {
        let alerts = self
            .rules
            .iter()
            .map(|r| {
                // In label-hash order, so that equal state saves to equal JSON.
                let mut by_key: Vec<(&u64, &Alert)> = r.alerts.iter().collect();
                by_key.sort_unstable_by_key(|(k, _)| **k);
                let list = by_key
                    .into_iter()
                    .map(|(_, a)| SavedAlert {
                        labels: a
                            .labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        state: a.state,
                        active_at: a.active_at,
                        fired_at: a.fired_at,
                        value: a.value.is_finite().then_some(a.value),
                        keep_since: a.keep_since,
                    })
                    .collect();
                (r.name.clone(), list)
            })
            .collect();
        serde_json::to_string(&SavedState {
            version: STATE_VERSION,
            settings: self.settings,
            last_eval: self.last_eval,
            watermark: self.watermark,
            alerts,
        })
        .expect("state serialises")
    }

    /// Restore saved state; alerts of rules that no longer exist are dropped.
    pub fn restore_state(&mut self, json: &str) -> Result<(), String> {
        let saved: SavedState =
            serde_json::from_str(json).map_err(|e| format!("metric rule state: {e}"))?;
        if saved.version != STATE_VERSION {
            return Err(format!(
                "metric rule state: version {} (this engine reads {STATE_VERSION})",
                saved.version
            ));
        }
        self.last_eval = saved.last_eval;
        self.watermark = saved.watermark;
        for rule in &mut self.rules {
            rule.alerts.clear();
            for a in saved.alerts.get(&rule.name).into_iter().flatten() {
                let mut set: LabelSet = a
                    .labels
                    .iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
                    .collect();
                set.sort_by(|x, y| x.0.cmp(&y.0));
                let key =
                    series::labels_hash(set.iter().map(|(k, v)| (k.as_ref(), v.as_ref())), false);
                rule.alerts.insert(
                    key,
                    Alert {
                        labels: Arc::new(set),
                        state: a.state,
                        active_at: a.active_at,
                        fired_at: a.fired_at,
                        value: a.value.unwrap_or(f64::NAN),
                        keep_since: a.keep_since,
                        seen: i64::MIN,
                    },
                );
            }
        }
        Ok(())
    }
}

/// The runs of equal bucket as (first row, bucket) when the buckets never go back, else
/// None. Bucket `b` in `1..after` holds `(base + (b-1)·step, base + b·step]`, bucket 0 what
/// is at or before `base`, bucket `after` the rest; a row inside the current bucket's
/// bounds costs two comparisons (no division).
fn bucket_segments(
    n: usize,
    ts: impl Fn(usize) -> i64,
    base: i64,
    step: i64,
    after: i64,
) -> Option<Vec<(usize, i64)>> {
    let bounds = |b: i64| -> (i64, i64) {
        let lo = if b == 0 {
            i64::MIN
        } else {
            base + (b - 1) * step
        };
        let hi = if b == 0 {
            base
        } else if b >= after {
            i64::MAX
        } else {
            base + b * step
        };
        (lo, hi)
    };
    let mut segments = Vec::new();
    let (mut b, mut lo, mut hi) = (-1i64, 0i64, i64::MIN);
    for i in 0..n {
        let t = ts(i);
        if t > lo && t <= hi {
            continue;
        }
        let nb = if t <= base {
            0
        } else {
            ((t - base + step - 1) / step).min(after)
        };
        if nb < b {
            return None;
        }
        b = nb;
        (lo, hi) = bounds(b);
        segments.push((i, b));
    }
    Some(segments)
}

/// Rows ordered by bucket (stable within a bucket), with the bucket of each: a counting
/// pass when the buckets are few, a stable sort by bucket when the batch spans a long time.
fn bucket_rows(
    rows: Vec<Row>,
    max_bucket: i64,
    bucket: impl Fn(i64) -> i64,
) -> (Vec<Row>, Vec<i64>) {
    let n_buckets = max_bucket as usize + 1;
    if n_buckets > rows.len() * 2 + 64 {
        let mut rows = rows;
        rows.sort_by_key(|r| bucket(r.ts));
        let buckets = rows.iter().map(|r| bucket(r.ts)).collect();
        return (rows, buckets);
    }
    let of_row: Vec<u32> = rows.iter().map(|r| bucket(r.ts) as u32).collect();
    let mut starts = vec![0usize; n_buckets + 1];
    for &b in &of_row {
        starts[b as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![
        Row {
            id: 0,
            ts: 0,
            v: 0.0
        };
        rows.len()
    ];
    let mut buckets = vec![0i64; rows.len()];
    for (r, b) in rows.into_iter().zip(of_row) {
        let at = &mut starts[b as usize];
        out[*at] = r;
        buckets[*at] = i64::from(b);
        *at += 1;
    }
    (out, buckets)
}

/// Prometheus' alerting-rule state machine for one evaluation of one rule.
///
/// Changes come out in a stable order: first the new (pending) alerts in the order of the
/// result, then the firing and resolved ones by label hash.
fn update_alerts(
    rule: &mut CompiledRule,
    ri: usize,
    t: i64,
    ctx: &Ctx<'_>,
    result: Vec<eval::El>,
    changes: &mut Vec<AlertChange>,
) {
    for el in result {
        let key = el.lbl.hash_no_name(ctx.series);
        match rule.alerts.entry(key) {
            Entry::Occupied(mut o) => {
                let a = o.get_mut();
                if a.seen == t {
                    continue; // two results with one label set: the first counts, as in Prometheus' dedup
                }
                a.seen = t;
                a.value = el.v;
                a.keep_since = None;
            }
            Entry::Vacant(v) => {
                let a = v.insert(Alert {
                    labels: el.lbl.drop_name().to_set(ctx.series),
                    state: AlertState::Pending,
                    active_at: t,
                    fired_at: None,
                    value: el.v,
                    keep_since: None,
                    seen: t,
                });
                if rule.for_ms > 0 {
                    changes.push(change(a, ri, t, AlertState::Pending, None));
                }
            }
        }
    }
    let (for_ms, keep_ms) = (rule.for_ms, rule.keep_ms);
    let mut later: Vec<(u64, AlertChange)> = Vec::new();
    rule.alerts.retain(|&key, a| {
        if a.seen != t {
            if a.state == AlertState::Firing && keep_ms > 0 {
                let since = *a.keep_since.get_or_insert(t);
                if t - since < keep_ms {
                    return true;
                }
            }
            later.push((key, change(a, ri, t, AlertState::Resolved, Some(t))));
            return false;
        }
        if a.state == AlertState::Pending && t - a.active_at >= for_ms {
            a.state = AlertState::Firing;
            a.fired_at = Some(t);
            later.push((key, change(a, ri, t, AlertState::Firing, None)));
        }
        true
    });
    later.sort_unstable_by_key(|(key, _)| *key);
    changes.extend(later.into_iter().map(|(_, c)| c));
}

fn change(a: &Alert, rule: usize, t: i64, state: AlertState, resolved: Option<i64>) -> AlertChange {
    AlertChange {
        ts_ms: t,
        rule,
        state,
        labels: a.labels.clone(),
        value: a.value,
        active_since_ms: a.active_at,
        fired_at_ms: a.fired_at,
        resolved_at_ms: resolved,
    }
}
