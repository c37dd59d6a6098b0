//! Evaluating an expression at one time step over the series buffers.
//!
//! Vectors are `(labels, value)` elements whose labels stay a reference to the interned
//! series (`Lbl::Series`) until an operation really changes them (aggregation, `on(…)`), so
//! the common rule — a selector, a function, a comparison — allocates no label sets. Range
//! functions read the window `(t − range, t]` straight from the series buffer (left-open,
//! as in Prometheus 3); instant selectors take the newest sample within the lookback.

use std::sync::Arc;

use super::engine::{PREFETCH_BUFFER, PREFETCH_SERIES};
use super::expr::{AggOp, BinOp, Expr, Func, Grouping, Matching, Selector};
use super::samples::NAME_LABEL;
use super::series::{get_label, labels_hash, pair_hash, Buffer, LabelSet, SeriesTable};
use crate::hash::{mix, FxBuild, FxMap};

/// An element's labels: an interned series (with or without its name), or a new set
/// (never holding `__name__`).
#[derive(Clone, Debug)]
pub enum Lbl {
    Series { id: u32, name: bool },
    Set(Arc<LabelSet>),
}

#[derive(Clone, Debug)]
pub struct El {
    pub lbl: Lbl,
    pub v: f64,
}

pub enum Val {
    Scalar(f64),
    Vector(Vec<El>),
}

/// What an evaluation reads.
pub struct Ctx<'a> {
    pub series: &'a SeriesTable,
    pub selector_series: &'a [Vec<u32>],
    pub t: i64,
    pub lookback_ms: i64,
}

impl Lbl {
    /// The underlying sorted set and whether `__name__` counts.
    fn raw<'a>(&'a self, s: &'a SeriesTable) -> (&'a LabelSet, bool) {
        match self {
            Lbl::Series { id, name } => (&s.labels[*id as usize], *name),
            Lbl::Set(set) => (set, false),
        }
    }

    pub fn pairs<'a>(&'a self, s: &'a SeriesTable) -> impl Iterator<Item = (&'a str, &'a str)> {
        let (set, name) = self.raw(s);
        set.iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .filter(move |(k, _)| name || *k != NAME_LABEL)
    }

    pub fn get<'a>(&'a self, s: &'a SeriesTable, key: &str) -> Option<&'a str> {
        let (set, name) = self.raw(s);
        if !name && key == NAME_LABEL {
            return None;
        }
        get_label(set, key)
    }

    /// Hash of the labels without `__name__`: alert identity and default vector matching.
    pub fn hash_no_name(&self, s: &SeriesTable) -> u64 {
        match self {
            Lbl::Series { id, .. } => s.hash_no_name[*id as usize],
            Lbl::Set(set) => labels_hash(set.iter().map(|(k, v)| (k.as_ref(), v.as_ref())), false),
        }
    }

    pub fn drop_name(self) -> Lbl {
        match self {
            Lbl::Series { id, .. } => Lbl::Series { id, name: false },
            set => set,
        }
    }

    /// The labels as an owned set (without `__name__` unless kept).
    pub fn to_set(&self, s: &SeriesTable) -> Arc<LabelSet> {
        match self {
            Lbl::Set(set) => set.clone(),
            Lbl::Series { id, name: true } => s.labels[*id as usize].clone(),
            Lbl::Series { .. } => Arc::new(
                self.pairs(s)
                    .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                    .collect(),
            ),
        }
    }
}

/// Samples of `buf` with timestamps in `(t − range, t]`.
fn window(
    buf: &Buffer,
    t: i64,
    range: i64,
) -> std::iter::Copied<std::collections::vec_deque::Iter<'_, (i64, f64)>> {
    let (lo, hi) = window_bounds(buf, t, range);
    buf.range(lo..hi).copied()
}

/// The window `(t − range, t]` of `buf` as the (at most two) slices it spans in the ring.
fn window_parts(buf: &Buffer, t: i64, range: i64) -> [&[(i64, f64)]; 2] {
    let (lo, hi) = window_bounds(buf, t, range);
    let (a, b) = buf.as_slices();
    let cut = a.len();
    [
        &a[lo.min(cut)..hi.min(cut)],
        &b[lo.max(cut) - cut..hi.max(cut) - cut],
    ]
}

/// The sum of `f(value)` over `parts`, in four independent lanes (a single running sum
/// waits on each addition's latency; long windows such as `[1h]` felt it). A value's lane
/// is its position in the window, whichever way the ring splits it, so the result does not
/// depend on the buffer's history.
#[inline]
fn lane_sum(parts: [&[(i64, f64)]; 2], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0f64; 4];
    // The second slice starts at window position `shift`: its values go to the lanes
    // rotated by that much (and are rotated back after).
    let shift = parts[0].len() % 4;
    for (i, part) in parts.into_iter().enumerate() {
        if i == 1 {
            lanes.rotate_left(shift);
        }
        let mut chunks = part.chunks_exact(4);
        for c in &mut chunks {
            for (l, s) in lanes.iter_mut().zip(c) {
                *l += f(s.1);
            }
        }
        for (l, s) in lanes.iter_mut().zip(chunks.remainder()) {
            *l += f(s.1);
        }
    }
    lanes.rotate_right(shift);
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// The number of values of `parts` and their mean, summed as offsets from the first value
/// (a constant window's mean is then that value exactly, and its deviations exactly 0).
fn count_mean(parts: [&[(i64, f64)]; 2]) -> (usize, f64) {
    let n = parts[0].len() + parts[1].len();
    let Some(first) = parts[0].first().or(parts[1].first()).map(|s| s.1) else {
        return (0, f64::NAN);
    };
    (n, first + lane_sum(parts, |v| v - first) / n as f64)
}

/// The sum of squared deviations from `mean` of the values of `parts`.
fn sum_sq_dev(parts: [&[(i64, f64)]; 2], mean: f64) -> f64 {
    lane_sum(parts, |v| (v - mean) * (v - mean))
}

/// The `_over_time` functions that reduce a window to sums, read from its slices; the
/// others through [`over_time`].
fn over_time_buf(func: Func, buf: &Buffer, t: i64, range: i64, param: f64) -> Option<f64> {
    let moments = |parts: [&[(i64, f64)]; 2]| {
        let (n, mean) = count_mean(parts);
        (n, mean, (sum_sq_dev(parts, mean) / n as f64).sqrt())
    };
    match func {
        Func::AvgOverTime | Func::SumOverTime | Func::StddevOverTime | Func::ZscoreOverTime => {
            let parts = window_parts(buf, t, range);
            if parts[0].is_empty() && parts[1].is_empty() {
                return None;
            }
            Some(match func {
                Func::AvgOverTime => count_mean(parts).1,
                Func::SumOverTime => lane_sum(parts, |v| v),
                Func::StddevOverTime => moments(parts).2,
                _ => {
                    let last = parts[1]
                        .last()
                        .or(parts[0].last())
                        .map_or(f64::NAN, |s| s.1);
                    let (n, mean, sd) = moments(parts);
                    if n < 3 || sd == 0.0 || sd.is_nan() {
                        return None;
                    }
                    (last - mean) / sd
                }
            })
        }
        _ => over_time(func, window(buf, t, range), param),
    }
}

/// The index range of the window `(t − range, t]` in `buf`.
fn window_bounds(buf: &Buffer, t: i64, range: i64) -> (usize, usize) {
    // The buffer is trimmed to what the rules read, so the window's edges are usually a
    // few samples in from its ends: a short scan there touches the lines the window's
    // reader loads anyway, where a binary search would jump around first.
    const SCAN: usize = 8;
    let n = buf.len();
    let cut = t - range;
    let mut lo = 0;
    while lo < n.min(SCAN) && buf[lo].0 <= cut {
        lo += 1;
    }
    if lo == SCAN && lo < n && buf[lo].0 <= cut {
        lo = buf.partition_point(|&(ts, _)| ts <= cut);
    }
    let mut hi = n;
    while hi > lo && n - hi < SCAN && buf[hi - 1].0 > t {
        hi -= 1;
    }
    if n - hi == SCAN && hi > lo && buf[hi - 1].0 > t {
        hi = buf.partition_point(|&(ts, _)| ts <= t);
    }
    (lo, hi.max(lo))
}

/// Prometheus' `extrapolatedRate` (version 3) for `rate`, `increase` and `delta`.
fn extrapolated_rate(
    w: impl Iterator<Item = (i64, f64)> + Clone,
    t: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let mut n = 0usize;
    let mut first = (0i64, 0f64);
    let mut last = (0i64, 0f64);
    let mut correction = 0.0;
    for (i, s) in w.enumerate() {
        if i == 0 {
            first = s;
        } else if is_counter && s.1 < last.1 {
            // A counter reset: the counter restarted from zero, so what it had counted
            // before the reset still happened.
            correction += last.1;
        }
        last = s;
        n += 1;
    }
    if n < 2 {
        return None;
    }
    let mut result = last.1 - first.1 + correction;
    let range_start = t - range_ms;
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let mut to_end = (t - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_gap = sampled / (n - 1) as f64;
    let threshold = avg_gap * 1.1;
    if to_start >= threshold {
        to_start = avg_gap / 2.0;
    }
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        // A counter cannot have been below zero: do not extrapolate past its start.
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    result *= factor;
    Some(result)
}

/// Least-squares slope and intercept at `t` (Prometheus' `linearRegression`).
fn linear_regression(w: impl Iterator<Item = (i64, f64)>, t: i64) -> Option<(f64, f64)> {
    let (mut n, mut sx, mut sy, mut sxy, mut sx2) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut first = None;
    let mut constant = true;
    for (ts, v) in w {
        match first {
            None => first = Some(v),
            Some(f) if f != v => constant = false,
            _ => {}
        }
        let x = (ts - t) as f64 / 1000.0;
        n += 1.0;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    if n < 2.0 {
        return None;
    }
    if constant {
        return Some((0.0, first.unwrap_or(0.0)));
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    Some((slope, sy / n - slope * sx / n))
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

fn mean_stddev(w: impl Iterator<Item = f64> + Clone) -> (f64, f64, usize) {
    let (mut n, mut sum) = (0usize, 0.0);
    for v in w.clone() {
        n += 1;
        sum += v;
    }
    if n == 0 {
        return (f64::NAN, f64::NAN, 0);
    }
    let mean = sum / n as f64;
    let var = w.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt(), n)
}

fn over_time(
    func: Func,
    w: impl DoubleEndedIterator<Item = (i64, f64)> + Clone,
    param: f64,
) -> Option<f64> {
    let mut values = w.clone().map(|(_, v)| v).peekable();
    values.peek()?;
    Some(match func {
        Func::AvgOverTime => {
            let (mut n, mut sum) = (0.0, 0.0);
            for v in values {
                n += 1.0;
                sum += v;
            }
            sum / n
        }
        Func::MinOverTime => values.fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        Func::MaxOverTime => values.fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        Func::SumOverTime => values.sum(),
        Func::CountOverTime => values.count() as f64,
        // From the back: the window is not walked for its newest sample.
        Func::LastOverTime => w.clone().next_back().map_or(f64::NAN, |(_, v)| v),
        Func::StddevOverTime => mean_stddev(w.map(|(_, v)| v)).1,
        Func::QuantileOverTime => quantile(param, &mut values.collect::<Vec<_>>()),
        Func::ZscoreOverTime => {
            let last = w.clone().next_back().map_or(f64::NAN, |(_, v)| v);
            let (mean, sd, n) = mean_stddev(w.map(|(_, v)| v));
            if n < 3 || sd == 0.0 || sd.is_nan() {
                return None;
            }
            (last - mean) / sd
        }
        _ => unreachable!("not an _over_time function"),
    })
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        _ => unreachable!("not arithmetic"),
    }
}

fn compare(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Eq => a == b,
        BinOp::Ne => a != b,
        BinOp::Gt => a > b,
        BinOp::Lt => a < b,
        BinOp::Ge => a >= b,
        BinOp::Le => a <= b,
        _ => unreachable!("not a comparison"),
    }
}

/// Labels from a selector's equality matchers: what `absent` reports.
fn absent_labels(sel: &Selector) -> Arc<LabelSet> {
    let mut set: LabelSet = sel
        .matchers
        .iter()
        .filter(|m| m.op == super::expr::MatchOp::Eq && m.label != NAME_LABEL)
        .map(|m| (Arc::from(m.label.as_str()), Arc::from(m.value.as_str())))
        .collect();
    set.sort_by(|a, b| a.0.cmp(&b.0));
    set.dedup_by(|a, b| a.0 == b.0);
    Arc::new(set)
}

impl Ctx<'_> {
    fn members(&self, sel: &Selector) -> &[u32] {
        &self.selector_series[sel.id]
    }

    pub fn eval(&self, e: &Expr) -> Result<Val, String> {
        Ok(match e {
            Expr::Number(n) => Val::Scalar(*n),
            Expr::Vector(sel) => Val::Vector(
                self.members(sel)
                    .iter()
                    .filter_map(|&id| {
                        self.series
                            .instant(id, self.t, self.lookback_ms)
                            .map(|v| El {
                                lbl: Lbl::Series { id, name: true },
                                v,
                            })
                    })
                    .collect(),
            ),
            Expr::Range { .. } => {
                return Err("a range vector cannot be evaluated on its own".into())
            }
            Expr::Call { func, args } => self.call(*func, args)?,
            Expr::Aggregate {
                op,
                grouping,
                param,
                expr,
            } => {
                let param = match param {
                    Some(p) => self.scalar(p)?,
                    None => f64::NAN,
                };
                let Val::Vector(v) = self.eval(expr)? else {
                    return Err("aggregation over a number".into());
                };
                Val::Vector(self.aggregate(*op, grouping, param, v))
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
            } => self.binary(*op, lhs, rhs, matching, *return_bool)?,
            Expr::Neg(inner) => match self.eval(inner)? {
                Val::Scalar(n) => Val::Scalar(-n),
                Val::Vector(v) => Val::Vector(
                    v.into_iter()
                        .map(|el| El {
                            lbl: el.lbl.drop_name(),
                            v: -el.v,
                        })
                        .collect(),
                ),
            },
        })
    }

    fn scalar(&self, e: &Expr) -> Result<f64, String> {
        match self.eval(e)? {
            Val::Scalar(n) => Ok(n),
            Val::Vector(_) => Err("expected a number".into()),
        }
    }

    fn vector(&self, e: &Expr) -> Result<Vec<El>, String> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(_) => Err("expected an instant vector".into()),
        }
    }

    fn call(&self, func: Func, args: &[Expr]) -> Result<Val, String> {
        let range_arg = |i: usize| match &args[i] {
            Expr::Range { selector, range_ms } => Ok((selector, *range_ms)),
            _ => Err(format!(
                "{func:?}: argument {} must be a range vector",
                i + 1
            )),
        };
        let per_series =
            |sel: &Selector, range: i64, keep_name: bool, f: &dyn Fn(&Buffer) -> Option<f64>| {
                let _ = range;
                let members = self.members(sel);
                let mut out = Vec::new();
                for (j, &id) in members.iter().enumerate() {
                    // Buffers are all over memory: hint the ones read next (as on insert).
                    if let Some(&ahead) = members.get(j + PREFETCH_SERIES) {
                        self.series.prefetch_series(ahead);
                    }
                    if let Some(&ahead) = members.get(j + PREFETCH_BUFFER) {
                        self.series.prefetch_buffer(ahead);
                    }
                    if let Some(v) = f(self.series.buffer(id)) {
                        out.push(El {
                            lbl: Lbl::Series {
                                id,
                                name: keep_name,
                            },
                            v,
                        });
                    }
                }
                Val::Vector(out)
            };
        let t = self.t;
        Ok(match func {
            Func::Time => Val::Scalar(t as f64 / 1000.0),
            Func::Rate | Func::Increase | Func::Delta => {
                let (sel, range) = range_arg(0)?;
                let counter = func != Func::Delta;
                let rate = func == Func::Rate;
                per_series(sel, range, false, &|b| {
                    extrapolated_rate(window(b, t, range), t, range, counter, rate)
                })
            }
            Func::Irate => {
                let (sel, range) = range_arg(0)?;
                per_series(sel, range, false, &|b| {
                    let mut w = window(b, t, range).rev();
                    let last = w.next()?;
                    let prev = w.next()?;
                    let dv = if last.1 < prev.1 {
                        last.1
                    } else {
                        last.1 - prev.1
                    };
                    Some(dv / ((last.0 - prev.0) as f64 / 1000.0))
                })
            }
            Func::Deriv => {
                let (sel, range) = range_arg(0)?;
                per_series(sel, range, false, &|b| {
                    linear_regression(window(b, t, range), t).map(|(slope, _)| slope)
                })
            }
            Func::PredictLinear => {
                let (sel, range) = range_arg(0)?;
                let ahead = self.scalar(&args[1])?;
                per_series(sel, range, false, &|b| {
                    linear_regression(window(b, t, range), t).map(|(s, i)| i + s * ahead)
                })
            }
            Func::AvgOverTime
            | Func::MinOverTime
            | Func::MaxOverTime
            | Func::SumOverTime
            | Func::CountOverTime
            | Func::LastOverTime
            | Func::StddevOverTime
            | Func::ZscoreOverTime => {
                let (sel, range) = range_arg(0)?;
                let keep_name = func == Func::LastOverTime;
                per_series(sel, range, keep_name, &|b| {
                    over_time_buf(func, b, t, range, 0.0)
                })
            }
            Func::QuantileOverTime => {
                let q = self.scalar(&args[0])?;
                let (sel, range) = range_arg(1)?;
                per_series(sel, range, false, &|b| {
                    over_time(func, window(b, t, range), q)
                })
            }
            Func::AbsentOverTime => {
                let (sel, range) = range_arg(0)?;
                let any = self
                    .members(sel)
                    .iter()
                    .any(|&id| window(self.series.buffer(id), t, range).next().is_some());
                Val::Vector(if any {
                    Vec::new()
                } else {
                    vec![El {
                        lbl: Lbl::Set(absent_labels(sel)),
                        v: 1.0,
                    }]
                })
            }
            Func::Absent => {
                let present = !self.vector(&args[0])?.is_empty();
                let labels = match &args[0] {
                    Expr::Vector(sel) => absent_labels(sel),
                    _ => Arc::new(LabelSet::new()),
                };
                Val::Vector(if present {
                    Vec::new()
                } else {
                    vec![El {
                        lbl: Lbl::Set(labels),
                        v: 1.0,
                    }]
                })
            }
            Func::Abs | Func::Ceil | Func::Floor | Func::ClampMin | Func::ClampMax => {
                let bound = if args.len() > 1 {
                    self.scalar(&args[1])?
                } else {
                    0.0
                };
                let f = |v: f64| match func {
                    Func::Abs => v.abs(),
                    Func::Ceil => v.ceil(),
                    Func::Floor => v.floor(),
                    Func::ClampMin => v.max(bound),
                    _ => v.min(bound),
                };
                Val::Vector(
                    self.vector(&args[0])?
                        .into_iter()
                        .map(|el| El {
                            lbl: el.lbl.drop_name(),
                            v: f(el.v),
                        })
                        .collect(),
                )
            }
        })
    }

    /// The matching signature of an element's labels.
    fn signature(&self, el: &El, matching: &Matching) -> u64 {
        match matching {
            Matching::All => el.lbl.hash_no_name(self.series),
            Matching::On(names) => {
                let mut acc = 0u64;
                for n in names {
                    acc = acc.wrapping_add(pair_hash(n, el.lbl.get(self.series, n).unwrap_or("")));
                }
                mix(acc)
            }
            Matching::Ignoring(names) => labels_hash(
                el.lbl
                    .pairs(self.series)
                    .filter(|(k, _)| !names.iter().any(|n| n == k)),
                false,
            ),
        }
    }

    /// Labels of a one-to-one result: name dropped when asked, then `on`/`ignoring` applied.
    fn result_labels(&self, lbl: &Lbl, matching: &Matching, drop_name: bool) -> Lbl {
        let lbl = if drop_name {
            lbl.clone().drop_name()
        } else {
            lbl.clone()
        };
        match matching {
            Matching::All => lbl,
            Matching::On(names) => {
                let mut set: LabelSet = names
                    .iter()
                    .filter(|n| n.as_str() != NAME_LABEL)
                    .filter_map(|n| {
                        lbl.get(self.series, n)
                            .map(|v| (Arc::<str>::from(n.as_str()), Arc::<str>::from(v)))
                    })
                    .collect();
                set.sort_by(|a, b| a.0.cmp(&b.0));
                Lbl::Set(Arc::new(set))
            }
            Matching::Ignoring(names) => Lbl::Set(Arc::new(
                lbl.pairs(self.series)
                    .filter(|(k, _)| !names.iter().any(|n| n == k) && *k != NAME_LABEL)
                    .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                    .collect(),
            )),
        }
    }

    fn binary(
        &self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        matching: &Matching,
        return_bool: bool,
    ) -> Result<Val, String> {
        let (l, r) = (self.eval(lhs)?, self.eval(rhs)?);
        let cmp = op.is_comparison();
        Ok(match (l, r) {
            (Val::Scalar(a), Val::Scalar(b)) => Val::Scalar(if cmp {
                f64::from(u8::from(compare(op, a, b)))
            } else {
                arith(op, a, b)
            }),
            (Val::Vector(v), Val::Scalar(s)) => {
                Val::Vector(vector_scalar(op, v, s, false, return_bool))
            }
            (Val::Scalar(s), Val::Vector(v)) => {
                Val::Vector(vector_scalar(op, v, s, true, return_bool))
            }
            (Val::Vector(lv), Val::Vector(rv)) if op.is_set() => {
                Val::Vector(self.set_op(op, lv, rv, matching))
            }
            (Val::Vector(lv), Val::Vector(rv)) => {
                let mut right: FxMap<u64, f64> = FxMap::default();
                for el in &rv {
                    if right.insert(self.signature(el, matching), el.v).is_some() {
                        return Err(format!(
                            "many-to-many matching: several series on the right side of {op:?} share labels {{{}}}; use on()/ignoring() to make them unique",
                            el.lbl.pairs(self.series).map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
                let drop_name = !cmp || return_bool;
                let mut out = Vec::new();
                for el in lv {
                    let Some(&b) = right.get(&self.signature(&el, matching)) else {
                        continue;
                    };
                    let v = if cmp {
                        let ok = compare(op, el.v, b);
                        if return_bool {
                            f64::from(u8::from(ok))
                        } else if ok {
                            el.v
                        } else {
                            continue;
                        }
                    } else {
                        arith(op, el.v, b)
                    };
                    out.push(El {
                        lbl: self.result_labels(&el.lbl, matching, drop_name),
                        v,
                    });
                }
                Val::Vector(out)
            }
        })
    }

    fn set_op(&self, op: BinOp, lv: Vec<El>, rv: Vec<El>, matching: &Matching) -> Vec<El> {
        let sigs = |v: &[El]| -> std::collections::HashSet<u64, FxBuild> {
            v.iter().map(|el| self.signature(el, matching)).collect()
        };
        match op {
            BinOp::And => {
                let r = sigs(&rv);
                lv.into_iter()
                    .filter(|el| r.contains(&self.signature(el, matching)))
                    .collect()
            }
            BinOp::Unless => {
                let r = sigs(&rv);
                lv.into_iter()
                    .filter(|el| !r.contains(&self.signature(el, matching)))
                    .collect()
            }
            _ => {
                let l = sigs(&lv);
                let mut out = lv;
                out.extend(
                    rv.into_iter()
                        .filter(|el| !l.contains(&self.signature(el, matching))),
                );
                out
            }
        }
    }

    fn aggregate(&self, op: AggOp, grouping: &Grouping, param: f64, v: Vec<El>) -> Vec<El> {
        struct Group {
            labels: Arc<LabelSet>,
            values: Vec<f64>,
        }
        let mut index: FxMap<u64, usize> = FxMap::default();
        let mut groups: Vec<Group> = Vec::new();
        for el in v {
            let key_pairs: Vec<(&str, &str)> = match grouping {
                Grouping::By(names) => {
                    let mut p: Vec<(&str, &str)> = names
                        .iter()
                        .filter_map(|n| el.lbl.get(self.series, n).map(|v| (n.as_str(), v)))
                        .collect();
                    p.sort();
                    p.dedup();
                    p
                }
                Grouping::Without(names) => el
                    .lbl
                    .pairs(self.series)
                    .filter(|(k, _)| *k != NAME_LABEL && !names.iter().any(|n| n == k))
                    .collect(),
            };
            let key = labels_hash(key_pairs.iter().copied(), false);
            let gi = *index.entry(key).or_insert_with(|| {
                groups.push(Group {
                    labels: Arc::new(
                        key_pairs
                            .iter()
                            .filter(|(k, _)| *k != NAME_LABEL)
                            .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
                            .collect(),
                    ),
                    values: Vec::new(),
                });
                groups.len() - 1
            });
            groups[gi].values.push(el.v);
        }
        groups
            .into_iter()
            .map(|mut g| {
                let n = g.values.len() as f64;
                let v = match op {
                    AggOp::Sum => g.values.iter().sum(),
                    AggOp::Avg => g.values.iter().sum::<f64>() / n,
                    AggOp::Count => n,
                    AggOp::Min => g.values.iter().copied().fold(f64::NAN, |m, x| {
                        if m.is_nan() || x < m {
                            x
                        } else {
                            m
                        }
                    }),
                    AggOp::Max => g.values.iter().copied().fold(f64::NAN, |m, x| {
                        if m.is_nan() || x > m {
                            x
                        } else {
                            m
                        }
                    }),
                    AggOp::Stddev => mean_stddev(g.values.iter().copied()).1,
                    AggOp::Quantile => quantile(param, &mut g.values),
                };
                El {
                    lbl: Lbl::Set(g.labels),
                    v,
                }
            })
            .collect()
    }
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`).
fn vector_scalar(op: BinOp, v: Vec<El>, s: f64, scalar_left: bool, return_bool: bool) -> Vec<El> {
    let cmp = op.is_comparison();
    v.into_iter()
        .filter_map(|el| {
            let (a, b) = if scalar_left { (s, el.v) } else { (el.v, s) };
            if cmp {
                let ok = compare(op, a, b);
                if return_bool {
                    Some(El {
                        lbl: el.lbl.drop_name(),
                        v: f64::from(u8::from(ok)),
                    })
                } else {
                    // A filter keeps the vector's own sample value and labels.
                    ok.then_some(el)
                }
            } else {
                Some(El {
                    lbl: el.lbl.drop_name(),
                    v: arith(op, a, b),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(samples: &[(i64, f64)]) -> Buffer {
        samples.iter().copied().collect()
    }

    /// A buffer holding `samples` whose ring starts `shift` slots in (so that windows
    /// span both of its slices).
    fn wrapped(shift: usize, samples: impl Iterator<Item = (i64, f64)>) -> Buffer {
        let mut b = Buffer::with_capacity(64);
        for i in 0..shift {
            b.push_back((i as i64, 0.0));
        }
        for _ in 0..shift {
            b.pop_front();
        }
        b.extend(samples);
        b
    }

    const SUM_FUNCS: [Func; 4] = [
        Func::AvgOverTime,
        Func::SumOverTime,
        Func::StddevOverTime,
        Func::ZscoreOverTime,
    ];

    #[test]
    fn sums_over_ring_slices_match_the_sample_walk() {
        // At every window position and length, whatever way the ring splits the window:
        // the sample walk's result within rounding, and the same bits at every split.
        let mut first: Option<Vec<Option<u64>>> = None;
        for shift in [0usize, 3, 17, 40, 63] {
            let b = wrapped(
                shift,
                (0..50i64).map(|i| {
                    (
                        1_000 * (i + 1),
                        1e6 + ((i * 7919) % 97) as f64 * 0.25 - (i % 5) as f64,
                    )
                }),
            );
            let mut bits = Vec::new();
            for t in (0..=52_000).step_by(1_000) {
                for range in [500, 3_000, 10_000, 60_000] {
                    for func in SUM_FUNCS {
                        let fast = over_time_buf(func, &b, t, range, 0.0);
                        let walk = over_time(func, window(&b, t, range), 0.0);
                        match (fast, walk) {
                            (Some(x), Some(y)) => assert!(
                                (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                                "{func:?} t={t} range={range}: {x} vs {y}"
                            ),
                            (x, y) => assert_eq!(x, y, "{func:?} t={t} range={range}"),
                        }
                        bits.push(fast.map(f64::to_bits));
                    }
                }
            }
            match &first {
                None => first = Some(bits),
                Some(f) => assert!(f == &bits, "results depend on the ring's split ({shift})"),
            }
        }
    }

    #[test]
    fn a_constant_window_has_no_spread() {
        // Summing 0.1 seven times is not 0.7 in floating point; the window's mean and spread
        // must still be the value and 0, so that a flat series has no z-score.
        for value in [0.1, 0.3, 1e9 + 0.7, -42.42] {
            for shift in [0usize, 1, 5, 30] {
                let b = wrapped(shift, (1..=40i64).map(|i| (i * 1_000, value)));
                for range in [3_000, 7_000, 20_000, 40_000] {
                    let at = |f| over_time_buf(f, &b, 40_000, range, 0.0);
                    assert_eq!(
                        at(Func::AvgOverTime),
                        Some(value),
                        "{value} {shift} {range}"
                    );
                    assert_eq!(at(Func::StddevOverTime), Some(0.0));
                    assert_eq!(at(Func::ZscoreOverTime), None);
                }
            }
        }
    }

    #[test]
    fn rate_handles_counter_resets() {
        // 0,10,20 | reset | 5,15 at 15 s spacing over a 60 s window ending at 60 s.
        let b = buf(&[
            (0, 0.0),
            (15_000, 10.0),
            (30_000, 20.0),
            (45_000, 5.0),
            (60_000, 15.0),
        ]);
        // The window (0, 60s] excludes the sample at 0.
        let inc =
            extrapolated_rate(window(&b, 60_000, 60_000), 60_000, 60_000, true, false).unwrap();
        // Raw increase 10→20 (+10), reset (+5), 5→15 (+10) = 25 over 45 s sampled. The first
        // sample is 15 s after the window start, under 1.1 × the 15 s gap, so the start
        // extrapolates all 15 s (the counter's distance to zero, 18 s, is further); the end
        // is exact.
        let expected = 25.0 * (45.0 + 15.0) / 45.0;
        assert!((inc - expected).abs() < 1e-9, "{inc} vs {expected}");
        let rate =
            extrapolated_rate(window(&b, 60_000, 60_000), 60_000, 60_000, true, true).unwrap();
        assert!((rate - expected / 60.0).abs() < 1e-9);
        assert!(
            extrapolated_rate(window(&b, 60_000, 10_000), 60_000, 10_000, true, true).is_none()
        );
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, &mut [1.0, 3.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, &mut [5.0, 1.0]), 1.0);
        assert_eq!(quantile(1.0, &mut [5.0, 1.0]), 5.0);
        assert_eq!(quantile(2.0, &mut [5.0]), f64::INFINITY);
    }

    #[test]
    fn predict_linear_extrapolates_the_trend() {
        // Falls 10 per minute; 100 at t=600 s → 0 ten minutes later.
        let b: Buffer = (0..=10)
            .map(|i| (i * 60_000, 200.0 - 10.0 * i as f64))
            .collect();
        let (slope, intercept) =
            linear_regression(window(&b, 600_000, 3_600_000), 600_000).unwrap();
        assert!((slope + 10.0 / 60.0).abs() < 1e-9);
        assert!((intercept - 100.0).abs() < 1e-9);
    }

    #[test]
    fn zscore_needs_history_and_variance() {
        let flat = buf(&[(1, 5.0), (2, 5.0), (3, 5.0)]);
        assert_eq!(
            over_time(Func::ZscoreOverTime, window(&flat, 3, 10), 0.0),
            None
        );
        let spike = buf(&[(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 9.0)]);
        let z = over_time(Func::ZscoreOverTime, window(&spike, 5, 10), 0.0).unwrap();
        assert!((z - 2.0).abs() < 1e-9, "{z}");
    }
}
