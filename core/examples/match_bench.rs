//! Times the matcher's stages on a rule file and a corpus, without Python:
//! `cargo run --release --example match_bench -- RULES.tsv CORPUS.txt [REPEAT]`
//! RULES.tsv lines: name, literal (0/1), ignore_case (0/1), pattern.
use std::time::Instant;

use opsengine_core::matcher::{MatchColumns, MatchCounts, RuleSet, RuleSpec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rules_text = std::fs::read_to_string(&args[1]).expect("rules file");
    let specs: Vec<RuleSpec> = rules_text
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, '\t');
            RuleSpec {
                name: p.next().unwrap().into(),
                literal: p.next().unwrap() == "1",
                ignore_case: p.next().unwrap() == "1",
                pattern: p.next().unwrap().into(),
            }
        })
        .collect();
    let corpus = std::fs::read(&args[2]).expect("corpus");
    let repeat: usize = args.get(3).map_or(31, |s| s.parse().unwrap());
    let mut values = Vec::new();
    let mut offsets = vec![0i64];
    for _ in 0..repeat {
        for line in corpus.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            values.extend_from_slice(line);
            offsets.push(values.len() as i64);
        }
    }
    let t = Instant::now();
    let rules = RuleSet::compile(&specs).unwrap();
    println!(
        "compile {:?}  plan {:?}",
        t.elapsed(),
        rules.plan().literals
    );
    if std::env::var("GRAMS").is_ok() {
        let low = values.to_ascii_lowercase();
        let mut rows: Vec<(usize, String, String)> = rules
            .prefilter_grams()
            .into_iter()
            .map(|(l, g)| {
                let gb = g.to_ascii_lowercase().into_bytes();
                let n = low.windows(4).filter(|w| *w == &gb[..]).count();
                (n, g, l)
            })
            .collect();
        rows.sort();
        for r in rows.iter().rev().take(25) {
            println!("{:>8} {:?} {:?}", r.0, r.1, r.2);
        }
        return;
    }
    let mb = values.len() as f64 / 1e6;
    if std::env::var("THREADS").is_ok() {
        use std::sync::Arc;
        let arr: arrow_array::ArrayRef = Arc::new(arrow_array::LargeStringArray::new(
            arrow_buffer::OffsetBuffer::new(offsets.clone().into()),
            values.clone().into(),
            None,
        ));
        for th in [1usize, 2, 1, 2] {
            let t = Instant::now();
            let m = opsengine_core::arrow_io::match_chunks(&rules, std::slice::from_ref(&arr), th)
                .unwrap();
            let s1 = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let b = opsengine_core::arrow_io::matches_to_batch(&rules, m).unwrap();
            let s2 = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let c = opsengine_core::arrow_io::count_chunks(&rules, std::slice::from_ref(&arr), th)
                .unwrap();
            let s3 = t.elapsed().as_secs_f64();
            println!(
                "threads {th}: match {:.0} MB/s ({} rows), to_batch {:.3}s, count {:.0} MB/s ({})",
                mb / s1,
                b.num_rows(),
                s2,
                mb / s3,
                c.0.iter().sum::<u64>()
            );
        }
        return;
    }
    let all = |_: usize| true;
    for _ in 0..3 {
        let t = Instant::now();
        let hits = rules.prefilter_hits(&values);
        let s = t.elapsed().as_secs_f64();
        println!("prefilter only: {:.0} MB/s ({hits} hits)", mb / s);
        let t = Instant::now();
        let mut c = MatchCounts::new(rules.len());
        rules.match_contiguous(&values, &offsets, &all, 0, &mut rules.scratch(), &mut c);
        let s = t.elapsed().as_secs_f64();
        println!(
            "count: {:.0} MB/s ({} matches)",
            mb / s,
            c.0.iter().sum::<u64>()
        );
        let t = Instant::now();
        let mut m = MatchColumns::new(rules.columns().len());
        rules.match_contiguous(&values, &offsets, &all, 0, &mut rules.scratch(), &mut m);
        let s = t.elapsed().as_secs_f64();
        println!("match: {:.0} MB/s ({} rows)", mb / s, m.len());
    }
}
