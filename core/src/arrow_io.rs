//! Arrow in, Arrow out, for the engines in this crate.
//!
//! The engines work on byte slices; this module is the one place that knows
//! Arrow's layouts. String and binary arrays with offsets (`Utf8`,
//! `LargeUtf8`, `Binary`, `LargeBinary`) are handed over as their contiguous
//! value buffer, so the prefilter scans many lines per call; view arrays
//! (`Utf8View`, `BinaryView`) are read line by line. Large inputs are split
//! into byte-balanced row ranges that run on a rayon pool and are joined in
//! order, so every thread count gives the same result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::ByteArrayType;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, GenericByteArray, Int32Array, LargeStringArray, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow_buffer::{ArrowNativeType, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use rayon::prelude::*;

use crate::header::{parse_header, span_bytes, ParseOptions};
use crate::matcher::{MatchColumns, MatchCounts, MatchSink, RuleSet, Scratch, TextColumn};

/// Target bytes per parallel task: big enough to amortise the task, small
/// enough that two threads share the work evenly.
const CHUNK_BYTES: usize = 1 << 20;

/// Whether `data_type` holds lines this crate can read.
pub fn is_text_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// A rayon pool per requested thread count, built once.
fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = pools.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(threads)
        .or_insert_with(|| {
            Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("opsengine-match-{i}"))
                    .build()
                    .expect("a rayon pool of the requested size"),
            )
        })
        .clone()
}

/// Resolve the `threads` argument: 0 means all cores.
pub fn effective_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// A row range of one chunk of the input, with the row number of its start.
#[derive(Clone, Copy, Debug)]
struct Task {
    chunk: usize,
    start: usize,
    end: usize,
    first_row: u64,
}

fn value_bytes(array: &dyn Array, start: usize, end: usize) -> usize {
    fn span<T: ByteArrayType>(a: &GenericByteArray<T>, s: usize, e: usize) -> usize {
        let o = a.value_offsets();
        (o[e].as_usize() - o[s].as_usize()).max(e - s)
    }
    match array.data_type() {
        DataType::Utf8 => span(array.as_string::<i32>(), start, end),
        DataType::LargeUtf8 => span(array.as_string::<i64>(), start, end),
        DataType::Binary => span(array.as_binary::<i32>(), start, end),
        DataType::LargeBinary => span(array.as_binary::<i64>(), start, end),
        // Views: estimate from the row count.
        _ => (end - start) * 128,
    }
}

/// Split the chunks into tasks of about [`CHUNK_BYTES`] each.
fn plan_tasks(chunks: &[ArrayRef], threads: usize) -> Vec<Task> {
    let mut tasks = Vec::new();
    let mut first_row = 0u64;
    for (ci, a) in chunks.iter().enumerate() {
        let n = a.len();
        if threads <= 1 || n == 0 {
            tasks.push(Task {
                chunk: ci,
                start: 0,
                end: n,
                first_row,
            });
        } else {
            let bytes = value_bytes(a.as_ref(), 0, n);
            let parts = bytes.div_ceil(CHUNK_BYTES).clamp(1, n);
            let step = n.div_ceil(parts);
            let mut s = 0;
            while s < n {
                let e = (s + step).min(n);
                tasks.push(Task {
                    chunk: ci,
                    start: s,
                    end: e,
                    first_row: first_row + s as u64,
                });
                s = e;
            }
        }
        first_row += n as u64;
    }
    tasks
}

fn run_task<S: MatchSink>(rules: &RuleSet, array: &dyn Array, t: Task, out: &mut S) {
    let mut scratch = rules.scratch();
    let scratch = &mut scratch;
    fn contiguous<T: ByteArrayType, S: MatchSink>(
        rules: &RuleSet,
        a: &GenericByteArray<T>,
        t: Task,
        scratch: &mut Scratch,
        out: &mut S,
    ) where
        T::Offset: crate::matcher::Offset,
    {
        let nulls = a.nulls();
        let start = t.start;
        let valid = move |i: usize| nulls.is_none_or(|n| n.is_valid(start + i));
        rules.match_contiguous(
            a.value_data(),
            &a.value_offsets()[t.start..=t.end],
            &valid,
            t.first_row,
            scratch,
            out,
        );
    }
    match array.data_type() {
        DataType::Utf8 => contiguous(rules, array.as_string::<i32>(), t, scratch, out),
        DataType::LargeUtf8 => contiguous(rules, array.as_string::<i64>(), t, scratch, out),
        DataType::Binary => contiguous(rules, array.as_binary::<i32>(), t, scratch, out),
        DataType::LargeBinary => contiguous(rules, array.as_binary::<i64>(), t, scratch, out),
        DataType::Utf8View => {
            let a = array.as_string_view();
            let line = |i: usize| {
                let r = t.start + i;
                a.is_valid(r).then(|| a.value(r).as_bytes())
            };
            rules.match_each(t.end - t.start, &line, t.first_row, scratch, out);
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            let line = |i: usize| {
                let r = t.start + i;
                a.is_valid(r).then(|| a.value(r))
            };
            rules.match_each(t.end - t.start, &line, t.first_row, scratch, out);
        }
        other => unreachable!("checked by check_chunks: {other}"),
    }
}

fn check_chunks(chunks: &[ArrayRef]) -> Result<(), ArrowError> {
    for c in chunks {
        if !is_text_type(c.data_type()) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "lines must be a string or binary array, got {}",
                c.data_type()
            )));
        }
    }
    Ok(())
}

fn run_all<S: MatchSink + Send>(
    rules: &RuleSet,
    chunks: &[ArrayRef],
    threads: usize,
    make: impl Fn() -> S + Sync,
) -> Result<Vec<S>, ArrowError> {
    check_chunks(chunks)?;
    let threads = effective_threads(threads);
    let tasks = plan_tasks(chunks, threads);
    let one = |t: &Task| {
        let mut out = make();
        run_task(rules, chunks[t.chunk].as_ref(), *t, &mut out);
        out
    };
    if threads <= 1 || tasks.len() <= 1 {
        Ok(tasks.iter().map(one).collect())
    } else {
        Ok(pool(threads).install(|| tasks.par_iter().map(one).collect()))
    }
}

/// Match every line of `chunks` (one logical column); rows are numbered
/// across chunks.
pub fn match_chunks(
    rules: &RuleSet,
    chunks: &[ArrayRef],
    threads: usize,
) -> Result<MatchColumns, ArrowError> {
    let width = rules.columns().len();
    let parts = run_all(rules, chunks, threads, || MatchColumns::new(width))?;
    let mut all = MatchColumns::new(width);
    for p in &parts {
        all.append(p);
    }
    Ok(all)
}

/// Count matching lines per rule.
pub fn count_chunks(
    rules: &RuleSet,
    chunks: &[ArrayRef],
    threads: usize,
) -> Result<MatchCounts, ArrowError> {
    let n = rules.len();
    let parts = run_all(rules, chunks, threads, || MatchCounts::new(n))?;
    let mut all = MatchCounts::new(n);
    for p in &parts {
        all.merge(p);
    }
    Ok(all)
}

fn text_array(c: TextColumn) -> Result<ArrayRef, ArrowError> {
    let nulls = NullBuffer::from(c.valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    if c.values.len() <= i32::MAX as usize {
        let offsets: Vec<i32> = c.offsets.iter().map(|&o| o as i32).collect();
        Ok(Arc::new(StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            c.values.into(),
            nulls,
        )?))
    } else {
        let offsets: Vec<i64> = c.offsets.iter().map(|&o| o as i64).collect();
        Ok(Arc::new(LargeStringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            c.values.into(),
            nulls,
        )?))
    }
}

/// The match result as a record batch: `row` (uint64), `rule`
/// (dictionary<int32, utf8> over all rule names, in rule order) and one
/// nullable string column per capture name.
pub fn matches_to_batch(rules: &RuleSet, m: MatchColumns) -> Result<RecordBatch, ArrowError> {
    let names: StringArray = rules.names().map(Some).collect();
    let keys = Int32Array::from(m.rules.iter().map(|&r| r as i32).collect::<Vec<_>>());
    let rule = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(names))?;
    let mut fields = vec![
        Field::new("row", DataType::UInt64, false),
        Field::new(
            "rule",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(m.rows)), Arc::new(rule)];
    for (name, col) in rules.columns().iter().zip(m.captures) {
        let array = text_array(col)?;
        fields.push(Field::new(name, array.data_type().clone(), true));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Line `i` of a text array, `None` for a null.
#[inline]
pub fn line_at(array: &dyn Array, i: usize) -> Option<&[u8]> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => array.as_string_view().value(i).as_bytes(),
        DataType::Binary => array.as_binary::<i32>().value(i),
        DataType::LargeBinary => array.as_binary::<i64>().value(i),
        DataType::BinaryView => array.as_binary_view().value(i),
        _ => return None,
    })
}

/// Parsed headers of one task's lines, as columns.
struct HeaderColumns {
    ts: Vec<Option<i64>>,
    host: TextColumn,
    app: TextColumn,
    pid: TextColumn,
    level: TextColumn,
    message: TextColumn,
    format: TextColumn,
}

impl HeaderColumns {
    fn new() -> Self {
        HeaderColumns {
            ts: Vec::new(),
            host: TextColumn::default_empty(),
            app: TextColumn::default_empty(),
            pid: TextColumn::default_empty(),
            level: TextColumn::default_empty(),
            message: TextColumn::default_empty(),
            format: TextColumn::default_empty(),
        }
    }

    fn push(&mut self, line: Option<&[u8]>, opts: &ParseOptions) {
        let Some(line) = line else {
            self.ts.push(None);
            for c in [
                &mut self.host,
                &mut self.app,
                &mut self.pid,
                &mut self.level,
                &mut self.message,
                &mut self.format,
            ] {
                c.push_null_value();
            }
            return;
        };
        let h = parse_header(line, opts);
        self.ts.push(h.ts_us);
        for (col, span) in [
            (&mut self.host, h.host),
            (&mut self.app, h.app),
            (&mut self.pid, h.pid),
        ] {
            match span {
                Some(s) => col.push_value(span_bytes(line, s)),
                None => col.push_null_value(),
            }
        }
        match h.level {
            Some(l) => self.level.push_value(l.as_str().as_bytes()),
            None => self.level.push_null_value(),
        }
        self.message.push_value(span_bytes(line, h.message));
        self.format.push_value(h.format.as_str().as_bytes());
    }

    fn append(&mut self, o: HeaderColumns) {
        self.ts.extend(o.ts);
        self.host.append_column(&o.host);
        self.app.append_column(&o.app);
        self.pid.append_column(&o.pid);
        self.level.append_column(&o.level);
        self.message.append_column(&o.message);
        self.format.append_column(&o.format);
    }
}

/// Parse the header of every line: `ts` (timestamp µs UTC), `host`, `app`,
/// `pid`, `level` (normalised), `message` (the text after the header) and
/// `format` (which layout was recognised). One row per input line; a null
/// line gives a row of nulls.
pub fn parse_headers(
    chunks: &[ArrayRef],
    opts: &ParseOptions,
    threads: usize,
) -> Result<RecordBatch, ArrowError> {
    check_chunks(chunks)?;
    let threads = effective_threads(threads);
    let tasks = plan_tasks(chunks, threads);
    let one = |t: &Task| {
        let a = chunks[t.chunk].as_ref();
        let mut cols = HeaderColumns::new();
        for i in t.start..t.end {
            cols.push(line_at(a, i), opts);
        }
        cols
    };
    let parts: Vec<HeaderColumns> = if threads <= 1 || tasks.len() <= 1 {
        tasks.iter().map(one).collect()
    } else {
        pool(threads).install(|| tasks.par_iter().map(one).collect())
    };
    let mut all = HeaderColumns::new();
    for p in parts {
        all.append(p);
    }
    let ts = TimestampMicrosecondArray::from(all.ts).with_timezone("UTC");
    let mut fields = vec![Field::new("ts", ts.data_type().clone(), true)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ts)];
    for (name, col) in [
        ("host", all.host),
        ("app", all.app),
        ("pid", all.pid),
        ("level", all.level),
        ("message", all.message),
        ("format", all.format),
    ] {
        let a = text_array(col)?;
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Mine every line into `miner`, in order: one template id per line (null
/// for a null line), and whether the line created a new template after the
/// miner's warm-up.
pub fn mine_chunks(
    miner: &mut crate::templates::TemplateMiner,
    chunks: &[ArrayRef],
) -> Result<(arrow_array::UInt32Array, arrow_array::BooleanArray), ArrowError> {
    check_chunks(chunks)?;
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let mut ids = Vec::with_capacity(total);
    let mut new = Vec::with_capacity(total);
    for c in chunks {
        for i in 0..c.len() {
            match line_at(c.as_ref(), i) {
                Some(line) => {
                    let (id, is_new) = miner.mine(line);
                    ids.push(Some(id));
                    new.push(Some(is_new));
                }
                None => {
                    ids.push(None);
                    new.push(None);
                }
            }
        }
    }
    Ok((ids.into(), new.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::RuleSpec;
    use arrow_array::{BinaryArray, StringViewArray};

    fn rules() -> RuleSet {
        RuleSet::compile(&[
            RuleSpec {
                name: "fail".into(),
                pattern: r"Failed password for (?P<user>\S+) from (?P<rhost>\S+)".into(),
                literal: false,
                ignore_case: false,
            },
            RuleSpec {
                name: "oom".into(),
                pattern: "out of memory".into(),
                literal: true,
                ignore_case: true,
            },
        ])
        .unwrap()
    }

    fn lines() -> Vec<Option<&'static str>> {
        vec![
            Some("sshd[1]: Failed password for root from 10.0.0.1 port 22"),
            None,
            Some("kernel: Out Of Memory: Killed process 12"),
            Some("nothing here"),
            Some("Failed password for bob from ::1 and out of memory"),
        ]
    }

    #[test]
    fn utf8_large_view_and_binary_agree() {
        let r = rules();
        let a: ArrayRef = Arc::new(StringArray::from(lines()));
        let b: ArrayRef = Arc::new(LargeStringArray::from(lines()));
        let c: ArrayRef = Arc::new(StringViewArray::from(lines()));
        let d: ArrayRef = Arc::new(BinaryArray::from(
            lines()
                .iter()
                .map(|l| l.map(str::as_bytes))
                .collect::<Vec<_>>(),
        ));
        let want = match_chunks(&r, &[a], 1).unwrap();
        assert_eq!(want.rows, vec![0, 2, 4, 4]);
        assert_eq!(want.rules, vec![0, 1, 0, 1]);
        assert_eq!(want.captures[0].get(0), Some("root"));
        assert_eq!(want.captures[1].get(3), None);
        for other in [b, c, d] {
            assert_eq!(match_chunks(&r, &[other], 1).unwrap(), want);
        }
    }

    #[test]
    fn chunks_number_rows_across_and_threads_agree() {
        let r = rules();
        let mut big: Vec<Option<&str>> = Vec::new();
        for _ in 0..20_000 {
            big.extend(lines());
        }
        let a: ArrayRef = Arc::new(StringArray::from(big.clone()));
        let single = match_chunks(&r, &[a.clone(), a.clone()], 1).unwrap();
        let multi = match_chunks(&r, &[a.clone(), a], 4).unwrap();
        assert_eq!(single, multi);
        assert_eq!(single.len(), 2 * 20_000 * 4);
        assert_eq!(*single.rows.last().unwrap(), 2 * big.len() as u64 - 1);
    }

    #[test]
    fn batch_has_dictionary_rules_and_capture_columns() {
        let r = rules();
        let a: ArrayRef = Arc::new(StringArray::from(lines()));
        let batch = matches_to_batch(&r, match_chunks(&r, &[a], 1).unwrap()).unwrap();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["row", "rule", "user", "rhost"]);
        assert_eq!(batch.num_rows(), 4);
    }

    #[test]
    fn headers_are_parsed_per_line_with_nulls_kept() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure"),
            None,
            Some("2015-10-18 18:01:47,978 INFO [main] org.Foo: started"),
        ]));
        let opts = ParseOptions::new(1_450_000_000_000_000);
        let b = parse_headers(std::slice::from_ref(&a), &opts, 1).unwrap();
        assert_eq!(b.num_rows(), 3);
        let host = b.column_by_name("host").unwrap().as_string::<i32>();
        assert_eq!(host.value(0), "combo");
        assert!(host.is_null(1));
        let level = b.column_by_name("level").unwrap().as_string::<i32>();
        assert_eq!(level.value(2), "info");
        assert_eq!(parse_headers(&[a], &opts, 4).unwrap(), b);
    }

    #[test]
    fn non_text_input_is_refused() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let err = match_chunks(&rules(), &[a], 1).unwrap_err();
        assert!(err.to_string().contains("string or binary"), "{err}");
    }
}
