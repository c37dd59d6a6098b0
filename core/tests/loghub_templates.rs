//! Quality of the streaming template miner on the 16 loghub datasets (grouping accuracy of
//! the ids returned while mining each `Content` column in file order, against `EventId`), and
//! an `#[ignore]`d speed report:
//!
//!     cargo test --release --test loghub_templates -- --ignored --nocapture
//!
//! The data is read from `<CARGO_MANIFEST_DIR>/../../shared/data/loghub` (or the folder named
//! by `OPSENGINE_LOGHUB_DIR`); without it the tests skip with a printed reason. Cite the loghub
//! paper where the data is used (see loghub/CITATION).

use opsengine_core::templates::{MinerSettings, TemplateMiner};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// (dataset, accuracy measured with the default settings, Drain3 0.9.11 default settings)
const EXPECTED: [(&str, f64, f64); 16] = [
    ("Android", 0.9255, 0.6045),
    ("Apache", 1.0000, 1.0000),
    ("BGL", 0.9890, 0.9685),
    ("HDFS", 1.0000, 0.9975),
    ("HPC", 0.9780, 0.7410),
    ("Hadoop", 0.9935, 0.9535),
    ("HealthApp", 0.9985, 0.5755),
    ("Linux", 0.8140, 0.6840),
    ("Mac", 0.9500, 0.7145),
    ("OpenSSH", 0.9985, 0.7180),
    ("OpenStack", 1.0000, 0.3095),
    ("Proxifier", 1.0000, 0.0255),
    ("Spark", 0.9975, 0.9225),
    ("Thunderbird", 0.9730, 0.9550),
    ("Windows", 0.9960, 0.5710),
    ("Zookeeper", 0.9945, 0.9665),
];

/// Allowed drop below the measured accuracy of a dataset.
const MARGIN: f64 = 0.01;
/// Required average over the 16 datasets.
const MIN_AVERAGE: f64 = 0.95;

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("OPSENGINE_LOGHUB_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub"),
    };
    if dir.join("Apache/Apache_2k.log_structured.csv").is_file() {
        Some(dir)
    } else {
        println!(
            "SKIP: loghub data not found at {} (set OPSENGINE_LOGHUB_DIR to its folder)",
            dir.display()
        );
        None
    }
}

/// RFC 4180 CSV: quoted fields, `""` escapes, commas and newlines inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut any = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The `Content` and `EventId` columns of one structured file, in file order.
fn load(dir: &Path, name: &str) -> (Vec<String>, Vec<String>) {
    let path = dir.join(name).join(format!("{name}_2k.log_structured.csv"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows = parse_csv(&String::from_utf8_lossy(&bytes));
    let header = &rows[0];
    let col = |n: &str| header.iter().position(|h| h == n).expect(n);
    let (ci, ei) = (col("Content"), col("EventId"));
    let mut lines = Vec::new();
    let mut truth = Vec::new();
    for r in &rows[1..] {
        if r.len() > ci.max(ei) {
            lines.push(r[ci].clone());
            truth.push(r[ei].clone());
        }
    }
    (lines, truth)
}

/// Share of lines whose predicted group is exactly their ground-truth group.
fn grouping_accuracy(pred: &[u32], truth: &[String]) -> f64 {
    let mut by_pred: HashMap<u32, usize> = HashMap::new();
    let mut by_true: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in pred.iter().zip(truth).enumerate() {
        *by_pred.entry(*p).or_default() += 1;
        by_true.entry(t.as_str()).or_default().push(i);
    }
    let correct: usize = by_true
        .values()
        .filter(|m| {
            let p = pred[m[0]];
            m.iter().all(|&i| pred[i] == p) && by_pred[&p] == m.len()
        })
        .map(|m| m.len())
        .sum();
    correct as f64 / truth.len().max(1) as f64
}

/// Mine one dataset as a stream: (accuracy, templates, lines per second).
fn mine_dataset(lines: &[String], truth: &[String]) -> (f64, usize, f64) {
    let mut miner = TemplateMiner::new(MinerSettings::default());
    let t0 = Instant::now();
    let pred: Vec<u32> = lines.iter().map(|l| miner.mine(l.as_bytes()).0).collect();
    let rate = lines.len() as f64 / t0.elapsed().as_secs_f64();
    (grouping_accuracy(&pred, truth), miner.len(), rate)
}

#[test]
fn loghub_grouping_accuracy() {
    let Some(dir) = data_dir() else { return };
    let mut sum = 0.0;
    let mut failures = Vec::new();
    println!(
        "{:<12} {:>8} {:>9} {:>8} {:>10}",
        "dataset", "accuracy", "expected", "drain3", "templates"
    );
    for (name, expected, drain3) in EXPECTED {
        let (lines, truth) = load(&dir, name);
        let (acc, templates, _) = mine_dataset(&lines, &truth);
        println!("{name:<12} {acc:>8.4} {expected:>9.4} {drain3:>8.4} {templates:>10}");
        sum += acc;
        if acc < expected - MARGIN {
            failures.push(format!("{name}: {acc:.4} < {expected:.4} - {MARGIN}"));
        }
        if acc < drain3 {
            failures.push(format!("{name}: {acc:.4} below Drain3's {drain3:.4}"));
        }
    }
    let avg = sum / EXPECTED.len() as f64;
    println!("{:<12} {avg:>8.4}", "average");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(avg >= MIN_AVERAGE, "average {avg:.4} < {MIN_AVERAGE}");
}

#[test]
fn loghub_ids_are_stable_across_save_and_load() {
    let Some(dir) = data_dir() else { return };
    for (name, _, _) in EXPECTED {
        let (lines, _) = load(&dir, name);
        let half = lines.len() / 2;
        let mut a = TemplateMiner::new(MinerSettings::default());
        for l in &lines[..half] {
            a.mine(l.as_bytes());
        }
        let mut b = TemplateMiner::load(&a.save()).expect("load");
        for l in &lines[half..] {
            assert_eq!(a.mine(l.as_bytes()), b.mine(l.as_bytes()), "{name}: {l}");
        }
        // Mining the file again gives every line the id it got the first time.
        let mut c = TemplateMiner::new(MinerSettings::default());
        let first: Vec<u32> = lines.iter().map(|l| c.mine(l.as_bytes()).0).collect();
        let again: Vec<u32> = lines.iter().map(|l| c.mine(l.as_bytes()).0).collect();
        assert_eq!(first, again, "{name}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// CPU time of this thread (Linux), so the rate is per core even on a busy machine.
fn thread_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<u64>().ok()? as f64 / 1e9)
}

/// Median over `runs` fresh miners: (lines per CPU second, lines per wall second, templates,
/// approximate state size in bytes).
fn time_mining(lines: &[String], runs: usize) -> (f64, f64, usize, usize) {
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    let (mut templates, mut bytes) = (0, 0);
    for _ in 0..runs {
        let mut m = TemplateMiner::new(MinerSettings::default());
        let c0 = thread_cpu_s();
        let t0 = Instant::now();
        for l in lines {
            std::hint::black_box(m.mine(l.as_bytes()));
        }
        let dt = t0.elapsed().as_secs_f64();
        let dc = match (c0, thread_cpu_s()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => dt,
        };
        cpu.push(lines.len() as f64 / dc);
        wall.push(lines.len() as f64 / dt);
        templates = m.len();
        bytes = m.memory_bytes();
    }
    (median(cpu), median(wall), templates, bytes)
}

/// Lines with `shapes` distinct constant-token shapes (many sharing their first words, so
/// leaves of the prefix tree are crowded) and numeric, IP and duration variables; with
/// `user_names`, also a user name drawn from 8 (a variable no mask can see).
fn synthetic(shapes: usize, n: usize, user_names: bool) -> Vec<String> {
    const WORDS: [&str; 32] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra",
        "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "basalt",
        "cobalt", "dune", "ember", "flint",
    ];
    const USERS: [&str; 8] = [
        "root", "admin", "oracle", "guest", "test", "postgres", "ubuntu", "www",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let shape_words: Vec<Vec<&str>> = (0..shapes)
        .map(|s| {
            let mut x = s;
            (0..5 + s % 4)
                .map(|_| {
                    let w = WORDS[x % 32];
                    x /= 32;
                    w
                })
                .collect()
        })
        .collect();
    (0..n)
        .map(|_| {
            let words = &shape_words[(next() % shapes as u64) as usize];
            let mut line = format!("{} request {}", words[0], next() % 100_000);
            for w in &words[1..] {
                line.push(' ');
                line.push_str(w);
            }
            line.push_str(&format!(
                " from 10.{}.0.{} took {}ms",
                next() % 256,
                next() % 256,
                next() % 1000
            ));
            if user_names {
                line.push_str(" user ");
                line.push_str(USERS[(next() % 8) as usize]);
            }
            line
        })
        .collect()
}

#[test]
#[ignore = "speed report; run with --release -- --ignored --nocapture"]
fn loghub_speed_report() {
    let Some(dir) = data_dir() else { return };
    if cfg!(debug_assertions) {
        println!("note: a debug build; run with --release for meaningful rates");
    }
    let mut corpus = Vec::new();
    let mut accuracy = Vec::new();
    println!(
        "{:<12} {:>8} {:>10} {:>12}",
        "dataset", "accuracy", "templates", "lines/s"
    );
    for (name, _, _) in EXPECTED {
        let (lines, truth) = load(&dir, name);
        let (acc, templates, rate) = mine_dataset(&lines, &truth);
        println!("{name:<12} {acc:>8.4} {templates:>10} {rate:>12.0}");
        accuracy.push(format!("\"{name}\": {acc:.4}"));
        corpus.extend(lines);
    }
    let big: Vec<String> = corpus.iter().cycle().take(1_000_000).cloned().collect();
    let (cpu, wall, templates, bytes) = time_mining(&big, 3);
    println!(
        "loghub Content x{:.1} ({} lines): {cpu:.0} lines/s per core ({wall:.0} wall), \
         {templates} templates, ~{} KB state",
        big.len() as f64 / corpus.len() as f64,
        big.len(),
        bytes / 1024
    );
    let mut synthetic_rates = Vec::new();
    for user_names in [false, true] {
        let lines = synthetic(10_000, 1_000_000, user_names);
        let (cpu, wall, templates, bytes) = time_mining(&lines, 3);
        println!(
            "synthetic, 10,000 shapes{}: {cpu:.0} lines/s per core ({wall:.0} wall), \
             {templates} templates, ~{} KB state ({} B per template)",
            if user_names { " + user names" } else { "" },
            bytes / 1024,
            bytes / templates.max(1)
        );
        synthetic_rates.push(cpu);
    }
    if let Some(path) = std::env::var_os("TEMPLATES_BENCH_JSON") {
        let json = format!(
            "{{\"accuracy\": {{{}}}, \"lines_per_s\": {cpu:.0}, \"lines_per_s_wall\": {wall:.0}, \
             \"synthetic_10k_lines_per_s\": {:.0}, \"synthetic_10k_users_lines_per_s\": {:.0}}}\n",
            accuracy.join(", "),
            synthetic_rates[0],
            synthetic_rates[1]
        );
        std::fs::write(&path, json).expect("write TEMPLATES_BENCH_JSON");
    }
}
