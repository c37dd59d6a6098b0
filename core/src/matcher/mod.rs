//! Log-rule matching: a whole rule set, one pass over the lines.
//!
//! Checking every rule against every line costs `rules × bytes`; with sixty
//! rules that is sixty regex searches per line, which is why per-rule engines
//! (Python `re`, `str.contains` per rule) run at a few MB/s. The plan here makes
//! the common case — a line that no rule cares about — cost one automaton step
//! per byte, shared by all rules:
//!
//! 1. **Compile** ([`RuleSet::compile`]). Each rule's pattern is parsed into
//!    `regex-syntax`'s HIR and a *required literal set* is extracted: a small
//!    set of strings, one of which occurs in every match ([`required_literals`]).
//!    All those literals go into one ASCII-case-insensitive gram filter
//!    ([`prefilter`]). Rules without a usable literal (shorter than
//!    [`MIN_LITERAL_LEN`], or none at all) go to an *always-check* `RegexSet`.
//! 2. **Prefilter** ([`GramFilter::for_each_hit`]). The filter scans the
//!    contiguous value buffer of an Arrow string array in one go (no call per
//!    line) and reports every (literal, position) occurrence. A hit is mapped
//!    to its line by walking the offsets; a hit that crosses a line boundary
//!    is dropped, and a hit of a case-sensitive literal is checked
//!    byte-for-byte.
//! 3. **Confirm** ([`RuleSet::confirm_line`]). For a line with candidates, each
//!    candidate rule's own regex confirms (`is_match`), and only confirmed
//!    rules with named groups run the capturing search. The always-check set
//!    runs on every line.
//! 4. **Emit**. Matches come out ordered by row, then rule order, into columnar
//!    builders ([`MatchColumns`]); large inputs are split into byte-balanced
//!    chunks matched on a rayon pool and concatenated in order, so the result
//!    is identical to the single-thread path.

pub mod prefilter;

use std::collections::HashMap;
use std::fmt;

use regex::bytes::{CaptureLocations, Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use prefilter::{GramFilter, Hit, GRAM_LEN};

/// Bytes scanned per prefilter call (the hit buffer holds one block's hits).
const SCAN_BLOCK: usize = 256 << 10;
use regex_syntax::hir::{Class, Hir, HirKind};
use regex_syntax::ParserBuilder;

/// Literals shorter than this hit too many lines to be worth prefiltering on;
/// such rules are checked on every line instead.
pub const MIN_LITERAL_LEN: usize = GRAM_LEN;
/// The most rules one set may hold. 5,000 rules compile in well under a
/// gigabyte; beyond this the compile is refused rather than risking memory.
pub const MAX_RULES: usize = 20_000;
/// Compiled size limit for each rule's regex (bytes of program).
pub const REGEX_SIZE_LIMIT: usize = 4 << 20;
/// Cap on the number of alternatives a literal set may expand to.
const MAX_LITERAL_ALTERNATIVES: usize = 64;
/// Names taken by the fixed output columns.
pub const RESERVED_COLUMNS: [&str; 2] = ["row", "rule"];

/// One rule as the caller describes it.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub name: String,
    pub pattern: String,
    /// Match `pattern` as a fixed string rather than a regex.
    pub literal: bool,
    pub ignore_case: bool,
}

/// Why a rule set could not be compiled; names the rule at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Index of the rule in the input, if one rule is at fault.
    pub rule_index: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(name) => write!(f, "rule '{}': {}", name, self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for CompileError {}

fn rule_error(index: usize, spec: &RuleSpec, message: impl Into<String>) -> CompileError {
    CompileError {
        rule_index: Some(index),
        rule: Some(spec.name.clone()),
        message: message.into(),
    }
}

/// One unit of a literal: a byte, and whether its ASCII case must match exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Unit {
    /// ASCII-lowercased byte.
    byte: u8,
    /// True when the original byte's case matters (a case-sensitive letter).
    exact_case: Option<u8>,
}

type Literal = Vec<Unit>;

fn unit_exact(b: u8) -> Unit {
    Unit {
        byte: b.to_ascii_lowercase(),
        exact_case: if b.is_ascii_alphabetic() {
            Some(b)
        } else {
            None
        },
    }
}

fn unit_folded(b: u8) -> Unit {
    Unit {
        byte: b.to_ascii_lowercase(),
        exact_case: None,
    }
}

fn literal_of_bytes(bytes: &[u8]) -> Literal {
    bytes.iter().copied().map(unit_exact).collect()
}

/// The exact, small set of strings a HIR node matches, if it has one.
fn exact_set(hir: &Hir) -> Option<Vec<Literal>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(lit) => Some(vec![literal_of_bytes(&lit.0)]),
        HirKind::Class(class) => class_set(class),
        HirKind::Capture(cap) => exact_set(&cap.sub),
        HirKind::Repetition(rep) => {
            let n = rep.min;
            if Some(n) != rep.max || n > 8 {
                return None;
            }
            let sub = exact_set(&rep.sub)?;
            let mut out = vec![Vec::new()];
            for _ in 0..n {
                out = cross(&out, &sub)?;
            }
            Some(out)
        }
        HirKind::Concat(subs) => {
            let mut out = vec![Vec::new()];
            for s in subs {
                out = cross(&out, &exact_set(s)?)?;
            }
            Some(out)
        }
        HirKind::Alternation(subs) => {
            let mut out = Vec::new();
            for s in subs {
                out.extend(exact_set(s)?);
                if out.len() > MAX_LITERAL_ALTERNATIVES {
                    return None;
                }
            }
            Some(out)
        }
    }
}

fn cross(a: &[Literal], b: &[Literal]) -> Option<Vec<Literal>> {
    if a.len() * b.len() > MAX_LITERAL_ALTERNATIVES {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut l = x.clone();
            l.extend_from_slice(y);
            out.push(l);
        }
    }
    Some(out)
}

/// A class as literal alternatives: an ASCII letter in both cases becomes one
/// case-folded unit; any other members (e.g. the Kelvin sign that `(?i)k`
/// also matches) become further alternatives, so nothing a regex would match
/// escapes the prefilter.
fn class_set(class: &Class) -> Option<Vec<Literal>> {
    let mut chars: Vec<Vec<u8>> = Vec::new();
    match class {
        Class::Unicode(c) => {
            let total: u32 = c
                .ranges()
                .iter()
                .map(|r| r.end() as u32 - r.start() as u32 + 1)
                .sum();
            if total > 8 {
                return None;
            }
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    chars.push(ch.encode_utf8(&mut buf).as_bytes().to_vec());
                }
            }
        }
        Class::Bytes(c) => {
            let total: usize = c
                .ranges()
                .iter()
                .map(|r| r.end() as usize - r.start() as usize + 1)
                .sum();
            if total > 8 {
                return None;
            }
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    chars.push(vec![b]);
                }
            }
        }
    }
    let mut out: Vec<Literal> = Vec::new();
    let mut used = vec![false; chars.len()];
    for i in 0..chars.len() {
        if used[i] {
            continue;
        }
        let c = &chars[i];
        if c.len() == 1 && c[0].is_ascii_alphabetic() {
            let other = if c[0].is_ascii_lowercase() {
                c[0].to_ascii_uppercase()
            } else {
                c[0].to_ascii_lowercase()
            };
            if let Some(j) = chars.iter().position(|d| d.len() == 1 && d[0] == other) {
                used[i] = true;
                used[j] = true;
                out.push(vec![unit_folded(c[0])]);
                continue;
            }
        }
        used[i] = true;
        out.push(literal_of_bytes(c));
    }
    Some(out)
}

/// A parse error as one line: what is wrong and where in the pattern.
fn syntax_message(e: &regex_syntax::Error) -> String {
    let (what, offset) = match e {
        regex_syntax::Error::Parse(p) => (p.kind().to_string(), p.span().start.offset),
        regex_syntax::Error::Translate(t) => (t.kind().to_string(), t.span().start.offset),
        other => (one_line(&other.to_string()), 0),
    };
    format!("invalid pattern at character {}: {what}", offset + 1)
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `hir` has any zero-width assertion (`^`, `$`, `\b`, …).
fn has_look(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(_) => true,
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => false,
        HirKind::Capture(c) => has_look(&c.sub),
        HirKind::Repetition(r) => has_look(&r.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(has_look),
    }
}

/// A set of strings, one of which occurs in every match of `hir`; the best
/// such set found (see [`score`]), or `None`.
fn required_literals(hir: &Hir) -> Option<Vec<Literal>> {
    if let Some(set) = exact_set(hir) {
        return Some(set);
    }
    match hir.kind() {
        HirKind::Capture(cap) => required_literals(&cap.sub),
        HirKind::Repetition(rep) if rep.min >= 1 => required_literals(&rep.sub),
        HirKind::Alternation(subs) => {
            let mut out = Vec::new();
            for s in subs {
                out.extend(required_literals(s)?);
            }
            (out.len() <= MAX_LITERAL_ALTERNATIVES).then_some(out)
        }
        HirKind::Concat(subs) => {
            // Candidates: each maximal run of children with exact sets (their
            // cross product is a contiguous required string), and each other
            // child's own requirement. Keep the best-scoring one.
            let mut best: Option<Vec<Literal>> = None;
            let mut consider = |cand: Vec<Literal>| {
                if score(&cand) > best.as_ref().map_or(0, |b| score(b)) {
                    best = Some(cand);
                }
            };
            let mut run: Vec<Literal> = vec![Vec::new()];
            for s in subs {
                match exact_set(s) {
                    Some(set) => match cross(&run, &set) {
                        Some(next) => run = next,
                        None => {
                            consider(std::mem::replace(&mut run, set));
                        }
                    },
                    None => {
                        consider(std::mem::replace(&mut run, vec![Vec::new()]));
                        if let Some(req) = required_literals(s) {
                            consider(req);
                        }
                    }
                }
            }
            consider(run);
            best
        }
        _ => None,
    }
}

/// How selective a literal set is: the length of its shortest member, zero
/// when any member is too short to prefilter on.
fn score(set: &[Literal]) -> usize {
    let min = set.iter().map(|l| l.len()).min().unwrap_or(0);
    if min < MIN_LITERAL_LEN {
        0
    } else {
        // Prefer fewer alternatives among equally long sets.
        min * 100 - set.len().min(99)
    }
}

/// Who cares about one automaton pattern: a rule, and the exact-case variants
/// it needs (empty = any case will do).
#[derive(Debug, Clone)]
struct Owner {
    rule: u32,
    /// Each variant: (offset, byte) positions whose case must match exactly.
    variants: Vec<Vec<(u32, u8)>>,
}

#[derive(Debug)]
struct CompiledRule {
    name: String,
    regex: Regex,
    /// The pattern is exactly its literal set (no look-around, no other
    /// syntax): a verified prefilter hit is a match, no regex needed.
    literal_confirms: bool,
    /// (capture group index in `regex`, output column).
    captures: Vec<(usize, usize)>,
}

/// A compiled rule set: the literal prefilter, the per-rule regexes and
/// the always-check set.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    prefilter: Option<GramFilter>,
    /// For each prefilter literal: the rules that need it.
    literal_owners: Vec<Vec<Owner>>,
    always: Vec<u32>,
    always_set: Option<RegexSet>,
    columns: Vec<String>,
}

/// Statistics about how the rule set was compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub rules: usize,
    pub prefiltered_rules: usize,
    pub always_checked_rules: Vec<String>,
    pub literals: usize,
}

/// Per-task scratch space, reused across lines so matching allocates only
/// for its output.
pub struct Scratch {
    candidates: Vec<u32>,
    hits: Vec<Hit>,
    locations: Vec<Option<CaptureLocations>>,
}

impl RuleSet {
    /// Compile rules into one matcher. Errors name the rule at fault.
    pub fn compile(specs: &[RuleSpec]) -> Result<RuleSet, CompileError> {
        if specs.len() > MAX_RULES {
            return Err(CompileError {
                rule_index: None,
                rule: None,
                message: format!(
                    "{} rules given; a rule set holds at most {MAX_RULES}",
                    specs.len()
                ),
            });
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut columns: Vec<String> = Vec::new();
        let mut rules = Vec::with_capacity(specs.len());
        let mut literal_sets: Vec<Option<Vec<Literal>>> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if spec.name.is_empty() {
                return Err(rule_error(i, spec, "the rule has an empty name"));
            }
            if let Some(first) = names.insert(spec.name.as_str(), i) {
                return Err(rule_error(
                    i,
                    spec,
                    format!("duplicate rule name (also rule #{})", first + 1),
                ));
            }
            if spec.pattern.is_empty() {
                return Err(rule_error(i, spec, "the pattern is empty"));
            }
            let source = if spec.literal {
                regex_syntax::escape(&spec.pattern)
            } else {
                spec.pattern.clone()
            };
            let hir = ParserBuilder::new()
                .case_insensitive(spec.ignore_case)
                .utf8(false)
                .build()
                .parse(&source)
                .map_err(|e| rule_error(i, spec, syntax_message(&e)))?;
            let regex = RegexBuilder::new(&source)
                .case_insensitive(spec.ignore_case)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    rule_error(
                        i,
                        spec,
                        format!("invalid pattern: {}", one_line(&e.to_string())),
                    )
                })?;
            let mut captures = Vec::new();
            for (gi, name) in regex.capture_names().enumerate() {
                let Some(name) = name else { continue };
                if RESERVED_COLUMNS.contains(&name) {
                    return Err(rule_error(
                        i,
                        spec,
                        format!("capture group name '{name}' is reserved for an output column"),
                    ));
                }
                let col = match columns.iter().position(|c| c == name) {
                    Some(c) => c,
                    None => {
                        columns.push(name.to_string());
                        columns.len() - 1
                    }
                };
                captures.push((gi, col));
            }
            let lits = required_literals(&hir).filter(|s| score(s) > 0);
            let literal_confirms = lits.is_some()
                && !has_look(&hir)
                && exact_set(&hir).is_some_and(|e| Some(&e) == lits.as_ref());
            literal_sets.push(lits);
            rules.push(CompiledRule {
                name: spec.name.clone(),
                regex,
                literal_confirms,
                captures,
            });
        }

        // Deduplicate literals by their lowercased bytes: one filter literal each.
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut literal_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literal_owners: Vec<Vec<Owner>> = Vec::new();
        let mut always = Vec::new();
        for (ri, set) in literal_sets.iter().enumerate() {
            let Some(set) = set else {
                always.push(ri as u32);
                continue;
            };
            for lit in set {
                let bytes: Vec<u8> = lit.iter().map(|u| u.byte).collect();
                let exact: Vec<(u32, u8)> = lit
                    .iter()
                    .enumerate()
                    .filter_map(|(k, u)| u.exact_case.map(|c| (k as u32, c)))
                    .collect();
                let li = *literal_index.entry(bytes.clone()).or_insert_with(|| {
                    literals.push(bytes);
                    literal_owners.push(Vec::new());
                    literals.len() - 1
                });
                let list = &mut literal_owners[li];
                match list.iter_mut().find(|o| o.rule == ri as u32) {
                    // Another case variant of the same literal for this rule.
                    Some(o) => {
                        if !o.variants.is_empty() {
                            if exact.is_empty() {
                                o.variants.clear();
                            } else {
                                o.variants.push(exact);
                            }
                        }
                    }
                    None => list.push(Owner {
                        rule: ri as u32,
                        variants: if exact.is_empty() {
                            Vec::new()
                        } else {
                            vec![exact]
                        },
                    }),
                }
            }
        }
        let prefilter = (!literals.is_empty()).then(|| GramFilter::new(&literals));
        let always_set = if always.is_empty() {
            None
        } else {
            let sources: Vec<String> = always
                .iter()
                .map(|&ri| {
                    let spec = &specs[ri as usize];
                    let src = if spec.literal {
                        regex_syntax::escape(&spec.pattern)
                    } else {
                        spec.pattern.clone()
                    };
                    if spec.ignore_case {
                        format!("(?i:{src})")
                    } else {
                        src
                    }
                })
                .collect();
            Some(
                RegexSetBuilder::new(&sources)
                    .size_limit(REGEX_SIZE_LIMIT.saturating_mul(8))
                    .build()
                    .map_err(|e| CompileError {
                        rule_index: None,
                        rule: None,
                        message: format!(
                            "the {} rules without a literal to prefilter on are too large to combine: {e}",
                            sources.len()
                        ),
                    })?,
            )
        };
        Ok(RuleSet {
            rules,
            prefilter,
            literal_owners,
            always,
            always_set,
            columns,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Names of the capture columns, in output order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn plan(&self) -> PlanSummary {
        PlanSummary {
            rules: self.rules.len(),
            prefiltered_rules: self.rules.len() - self.always.len(),
            always_checked_rules: self
                .always
                .iter()
                .map(|&r| self.rules[r as usize].name.clone())
                .collect(),
            literals: self.literal_owners.len(),
        }
    }

    /// Fresh scratch space for one task.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            candidates: Vec::new(),
            hits: Vec::new(),
            locations: (0..self.rules.len()).map(|_| None).collect(),
        }
    }

    /// Add the rules that need literal `literal`, found at `start` in `line`,
    /// to the candidates (checking case-sensitive positions exactly).
    #[inline]
    fn add_candidates(&self, literal: usize, line: &[u8], start: usize, candidates: &mut Vec<u32>) {
        for owner in &self.literal_owners[literal] {
            let ok = owner.variants.is_empty()
                || owner
                    .variants
                    .iter()
                    .any(|v| v.iter().all(|&(k, b)| line[start + k as usize] == b));
            if ok {
                candidates.push(owner.rule);
            }
        }
    }

    /// Confirm the candidate rules in `scratch` plus the always-check set on
    /// one line, appending matches to `out` in rule order; leaves the
    /// candidates empty.
    fn confirm_line<S: MatchSink>(
        &self,
        row: u64,
        line: &[u8],
        scratch: &mut Scratch,
        out: &mut S,
    ) {
        let candidates = &mut scratch.candidates;
        let mut from_set = false;
        if let Some(set) = &self.always_set {
            for i in set.matches(line).iter() {
                candidates.push(self.always[i]);
                from_set = true;
            }
        }
        if candidates.is_empty() {
            return;
        }
        if candidates.len() > 1 {
            candidates.sort_unstable();
            candidates.dedup();
        }
        for &ri in candidates.iter() {
            let rule = &self.rules[ri as usize];
            if out.wants_captures() && !rule.captures.is_empty() {
                let locs = scratch.locations[ri as usize]
                    .get_or_insert_with(|| rule.regex.capture_locations());
                if rule.regex.captures_read(locs, line).is_some() {
                    out.push(row, ri, &rule.captures, line, Some(locs));
                }
            } else if rule.literal_confirms
                || (from_set && self.always.binary_search(&ri).is_ok())
                || rule.regex.is_match(line)
            {
                // Rules of the always-check set were confirmed by the set.
                out.push(row, ri, &rule.captures, line, None);
            }
        }
        candidates.clear();
    }

    /// Match a contiguous run of lines: the values and offsets of an Arrow
    /// string or binary array. `offsets` has one more entry than there are
    /// lines; `valid(i)` is false for a null line; `first_row` is the output
    /// row index of line 0.
    pub fn match_contiguous<O: Offset, S: MatchSink>(
        &self,
        values: &[u8],
        offsets: &[O],
        valid: &(dyn Fn(usize) -> bool + Sync),
        first_row: u64,
        scratch: &mut Scratch,
        out: &mut S,
    ) {
        let n = offsets.len().saturating_sub(1);
        if n == 0 {
            return;
        }
        let base = offsets[0].as_usize();
        let hay = &values[base..offsets[n].as_usize()];
        let mut walk = LineWalk {
            rules: self,
            hay,
            offsets,
            base,
            valid,
            first_row,
            done: 0,
        };
        if let Some(filter) = &self.prefilter {
            // The line holding the candidates gathered so far: (index, start, end).
            let mut current: Option<(usize, usize, usize)> = None;
            let mut hits = std::mem::take(&mut scratch.hits);
            // Scan in blocks so hit positions fit in u32 and the hit buffer stays small.
            let mut block_start = 0usize;
            while block_start < hay.len() {
                // Blocks end on line boundaries so no literal is split.
                let target = (block_start + SCAN_BLOCK).min(hay.len());
                let block_end = if target == hay.len() {
                    target
                } else {
                    let li = offsets.partition_point(|o| o.as_usize() - base <= target);
                    let e = offsets[li.min(n)].as_usize() - base;
                    if e <= block_start {
                        hay.len()
                    } else {
                        e
                    }
                };
                hits.clear();
                filter.find_all(&hay[block_start..block_end], &mut hits);
                for h in &hits {
                    let pos = block_start + h.pos as usize;
                    let start = block_start + h.start as usize;
                    let literal = h.literal as usize;
                    let (ls, le) = match current {
                        Some((_, ls, le)) if pos < le => (ls, le),
                        _ => {
                            let from = match current.take() {
                                Some((li, _, _)) => {
                                    walk.finish_line(li, scratch, out);
                                    li + 1
                                }
                                None => walk.done,
                            };
                            // Offsets are sorted and hits come in position order.
                            let at = pos + base;
                            let li = from
                                + offsets[from + 1..=n].partition_point(|o| o.as_usize() <= at);
                            // Lines skipped over had no hit: only the always-check set runs there.
                            walk.finish_until(li, scratch, out);
                            let (ls, le) = walk.range(li);
                            current = Some((li, ls, le));
                            (ls, le)
                        }
                    };
                    if start >= ls && start + filter.literal_len(literal) <= le {
                        self.add_candidates(
                            literal,
                            &hay[ls..le],
                            start - ls,
                            &mut scratch.candidates,
                        );
                    }
                }
                block_start = block_end;
            }
            scratch.hits = hits;
            if let Some((li, _, _)) = current {
                walk.finish_line(li, scratch, out);
            }
        }
        walk.finish_until(n, scratch, out);
    }

    /// Match lines one at a time (for arrays whose values are not contiguous,
    /// such as string views). `line(i)` is `None` for a null.
    pub fn match_each<'a, S: MatchSink>(
        &self,
        count: usize,
        line: &(dyn Fn(usize) -> Option<&'a [u8]> + Sync),
        first_row: u64,
        scratch: &mut Scratch,
        out: &mut S,
    ) {
        for i in 0..count {
            let Some(l) = line(i) else { continue };
            if let Some(filter) = &self.prefilter {
                scratch.hits.clear();
                filter.find_all(l, &mut scratch.hits);
                for h in &scratch.hits {
                    self.add_candidates(
                        h.literal as usize,
                        l,
                        h.start as usize,
                        &mut scratch.candidates,
                    );
                }
            }
            if !scratch.candidates.is_empty() || self.always_set.is_some() {
                self.confirm_line(first_row + i as u64, l, scratch, out);
            }
        }
    }

    /// The prefilter's literals and their grams (for diagnostics).
    pub fn prefilter_grams(&self) -> Vec<(String, String)> {
        self.prefilter.as_ref().map_or_else(Vec::new, |f| {
            f.grams()
                .into_iter()
                .map(|(l, g)| {
                    (
                        String::from_utf8_lossy(l).into_owned(),
                        String::from_utf8_lossy(g).into_owned(),
                    )
                })
                .collect()
        })
    }

    /// Run only the literal prefilter over `hay`; returns the number of hits.
    /// For measuring the prefilter's share of the matching cost.
    pub fn prefilter_hits(&self, hay: &[u8]) -> usize {
        let mut hits = 0;
        if let Some(f) = &self.prefilter {
            let mut all = Vec::new();
            f.find_all(hay, &mut all);
            hits = all.len();
        }
        hits
    }
}

/// The walk over a contiguous array's lines: confirms the line that holds
/// prefilter candidates and, when there is an always-check set, every line
/// before it that had none.
struct LineWalk<'a, O: Offset> {
    rules: &'a RuleSet,
    hay: &'a [u8],
    offsets: &'a [O],
    base: usize,
    valid: &'a (dyn Fn(usize) -> bool + Sync),
    first_row: u64,
    /// Lines before this index are done.
    done: usize,
}

impl<O: Offset> LineWalk<'_, O> {
    #[inline]
    fn range(&self, i: usize) -> (usize, usize) {
        (
            self.offsets[i].as_usize() - self.base,
            self.offsets[i + 1].as_usize() - self.base,
        )
    }

    /// Confirm line `i`, whose candidates are in `scratch`; every line
    /// before it must be done already.
    fn finish_line<S: MatchSink>(&mut self, i: usize, scratch: &mut Scratch, out: &mut S) {
        debug_assert_eq!(self.done, i);
        if (self.valid)(i) {
            let (s, e) = self.range(i);
            self.rules
                .confirm_line(self.first_row + i as u64, &self.hay[s..e], scratch, out);
        }
        scratch.candidates.clear();
        self.done = i + 1;
    }

    /// Lines in `done..end` had no prefilter hit; only the always-check set
    /// can match them.
    fn finish_until<S: MatchSink>(&mut self, end: usize, scratch: &mut Scratch, out: &mut S) {
        if self.rules.always_set.is_some() {
            for i in self.done..end {
                if (self.valid)(i) {
                    let (s, e) = self.range(i);
                    self.rules.confirm_line(
                        self.first_row + i as u64,
                        &self.hay[s..e],
                        scratch,
                        out,
                    );
                }
            }
        }
        self.done = self.done.max(end);
    }
}

/// Offsets of Arrow's `Utf8`/`Binary` (i32) and `LargeUtf8`/`LargeBinary` (i64).
pub trait Offset: Copy + Send + Sync {
    fn as_usize(self) -> usize;
}
impl Offset for i32 {
    #[inline]
    fn as_usize(self) -> usize {
        self as usize
    }
}
impl Offset for i64 {
    #[inline]
    fn as_usize(self) -> usize {
        self as usize
    }
}

/// Where matches go: per-rule counts, or rows with captures.
pub trait MatchSink {
    /// False when only the fact of a match matters (counting).
    fn wants_captures(&self) -> bool;
    /// One match of rule `rule` on `row`; `layout` maps the rule's capture
    /// groups to output columns; `caps` is set when captures were wanted and
    /// the rule has named groups.
    fn push(
        &mut self,
        row: u64,
        rule: u32,
        layout: &[(usize, usize)],
        line: &[u8],
        caps: Option<&CaptureLocations>,
    );
}

/// Per-rule match counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchCounts(pub Vec<u64>);

impl MatchCounts {
    pub fn new(rules: usize) -> Self {
        MatchCounts(vec![0; rules])
    }

    pub fn merge(&mut self, other: &MatchCounts) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }
}

impl MatchSink for MatchCounts {
    fn wants_captures(&self) -> bool {
        false
    }
    #[inline]
    fn push(
        &mut self,
        _: u64,
        rule: u32,
        _: &[(usize, usize)],
        _: &[u8],
        _: Option<&CaptureLocations>,
    ) {
        self.0[rule as usize] += 1;
    }
}

/// One nullable string column being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextColumn {
    pub values: Vec<u8>,
    /// `len + 1` offsets into `values`.
    pub offsets: Vec<usize>,
    pub valid: Vec<bool>,
}

impl TextColumn {
    fn new() -> Self {
        TextColumn {
            values: Vec::new(),
            offsets: vec![0],
            valid: Vec::new(),
        }
    }

    fn push_null(&mut self) {
        self.offsets.push(self.values.len());
        self.valid.push(false);
    }

    fn push(&mut self, bytes: &[u8]) {
        // Captures of a valid UTF-8 line are valid UTF-8; lines from binary
        // arrays may not be, and are repaired so the column stays a string.
        match std::str::from_utf8(bytes) {
            Ok(_) => self.values.extend_from_slice(bytes),
            Err(_) => self
                .values
                .extend_from_slice(String::from_utf8_lossy(bytes).as_bytes()),
        }
        self.offsets.push(self.values.len());
        self.valid.push(true);
    }

    /// An empty column (for builders outside this module).
    pub fn default_empty() -> Self {
        Self::new()
    }

    pub fn push_value(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }

    pub fn push_null_value(&mut self) {
        self.push_null();
    }

    pub fn append_column(&mut self, other: &TextColumn) {
        self.append(other);
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        if !self.valid[i] {
            return None;
        }
        std::str::from_utf8(&self.values[self.offsets[i]..self.offsets[i + 1]]).ok()
    }

    fn append(&mut self, other: &TextColumn) {
        let shift = self.values.len();
        self.values.extend_from_slice(&other.values);
        self.offsets
            .extend(other.offsets[1..].iter().map(|o| o + shift));
        self.valid.extend_from_slice(&other.valid);
    }
}

/// Matches as columns: `row`, `rule` (index into the rule set) and one text
/// column per capture name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchColumns {
    pub rows: Vec<u64>,
    pub rules: Vec<u32>,
    pub captures: Vec<TextColumn>,
}

impl MatchColumns {
    pub fn new(columns: usize) -> Self {
        MatchColumns {
            rows: Vec::new(),
            rules: Vec::new(),
            captures: (0..columns).map(|_| TextColumn::new()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn append(&mut self, other: &MatchColumns) {
        self.rows.extend_from_slice(&other.rows);
        self.rules.extend_from_slice(&other.rules);
        for (a, b) in self.captures.iter_mut().zip(&other.captures) {
            a.append(b);
        }
    }
}

impl MatchSink for MatchColumns {
    fn wants_captures(&self) -> bool {
        true
    }
    fn push(
        &mut self,
        row: u64,
        rule: u32,
        layout: &[(usize, usize)],
        line: &[u8],
        caps: Option<&CaptureLocations>,
    ) {
        self.rows.push(row);
        self.rules.push(rule);
        // Group names are unique within a regex, so each column gets at most
        // one value per match; columns of other rules' groups stay null.
        if let Some(caps) = caps {
            for &(group, col) in layout {
                match caps.get(group) {
                    Some((s, e)) => self.captures[col].push(&line[s..e]),
                    None => self.captures[col].push_null(),
                }
            }
        }
        let want = self.rows.len();
        for column in &mut self.captures {
            if column.valid.len() < want {
                column.push_null();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, pattern: &str, ignore_case: bool) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            pattern: pattern.into(),
            literal: false,
            ignore_case,
        }
    }

    fn lits(pattern: &str, ignore_case: bool) -> Option<Vec<String>> {
        let hir = ParserBuilder::new()
            .case_insensitive(ignore_case)
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap();
        required_literals(&hir).filter(|s| score(s) > 0).map(|set| {
            let mut v: Vec<String> = set
                .iter()
                .map(|l| String::from_utf8(l.iter().map(|u| u.byte).collect()).unwrap())
                .collect();
            v.sort();
            v
        })
    }

    fn run(rules: &RuleSet, lines: &[&str]) -> Vec<(u64, u32)> {
        let mut values = Vec::new();
        let mut offsets = vec![0i32];
        for l in lines {
            values.extend_from_slice(l.as_bytes());
            offsets.push(values.len() as i32);
        }
        let mut out = MatchColumns::new(rules.columns().len());
        rules.match_contiguous(
            &values,
            &offsets,
            &|_| true,
            0,
            &mut rules.scratch(),
            &mut out,
        );
        out.rows.into_iter().zip(out.rules).collect()
    }

    #[test]
    fn inner_literals_are_found_not_just_prefixes() {
        assert_eq!(
            lits(r"sshd\[\d+\]: Failed password for (?P<u>\S+)", false),
            Some(vec!["]: failed password for ".into()])
        );
        assert_eq!(
            lits(r"\d+ (?:error|fatal) in \S+", false),
            Some(vec![" error in ".into(), " fatal in ".into()])
        );
        // Case-insensitive letters fold to one lowercase unit.
        assert_eq!(
            lits("Out of Memory", true),
            Some(vec!["out of memory".into()])
        );
        // Nothing long enough to look for.
        assert_eq!(lits(r"^\d+$", false), None);
        assert_eq!(lits(r"(?:ab|cd)\d", false), None);
        // An optional part is not required.
        assert_eq!(lits(r"x(?:segfault)?", false), None);
    }

    #[test]
    fn matches_come_in_row_then_rule_order() {
        let rules = RuleSet::compile(&[
            spec("b", "beta", false),
            spec("a", "alpha", false),
            spec("any", r"\w+ \w+", false),
        ])
        .unwrap();
        assert_eq!(rules.plan().always_checked_rules, vec!["any".to_string()]);
        let got = run(&rules, &["alpha beta", "", "beta", "zzz"]);
        assert_eq!(got, vec![(0, 0), (0, 1), (0, 2), (2, 0)]);
    }

    #[test]
    fn literal_hits_across_line_boundaries_do_not_count() {
        let rules = RuleSet::compile(&[spec("p", "panic", false)]).unwrap();
        assert_eq!(run(&rules, &["pan", "ic", "kernel panic"]), vec![(2, 0)]);
    }

    #[test]
    fn case_sensitive_literals_are_checked_exactly() {
        let rules =
            RuleSet::compile(&[spec("up", "ERROR", false), spec("any", "error", true)]).unwrap();
        assert_eq!(
            run(&rules, &["ERROR", "error", "ErRoR"]),
            vec![(0, 0), (0, 1), (1, 1), (2, 1)]
        );
    }

    #[test]
    fn compile_errors_name_the_rule() {
        let err =
            RuleSet::compile(&[spec("ok", "fine", false), spec("bad", "a(b", false)]).unwrap_err();
        assert_eq!(err.rule_index, Some(1));
        assert_eq!(err.rule.as_deref(), Some("bad"));
        assert!(err.message.contains("unclosed group"), "{err}");
        let dup =
            RuleSet::compile(&[spec("x", "aaaa", false), spec("x", "bbbb", false)]).unwrap_err();
        assert!(dup.message.contains("duplicate"));
        let reserved = RuleSet::compile(&[spec("r", "(?P<row>x)", false)]).unwrap_err();
        assert!(reserved.message.contains("reserved"));
        let empty = RuleSet::compile(&[spec("e", "", false)]).unwrap_err();
        assert!(empty.message.contains("empty"));
    }

    #[test]
    fn literal_rules_escape_their_text() {
        let rules = RuleSet::compile(&[RuleSpec {
            name: "l".into(),
            pattern: "a.b(c)".into(),
            literal: true,
            ignore_case: false,
        }])
        .unwrap();
        assert_eq!(run(&rules, &["xa.b(c)", "aXb(c)"]), vec![(0, 0)]);
    }

    #[test]
    fn captures_fill_their_columns() {
        let rules = RuleSet::compile(&[
            spec("ssh", r"for (?P<user>\S+) from (?P<rhost>\S+)", false),
            spec("seg", r"segfault at (?P<addr>\w+)", false),
        ])
        .unwrap();
        assert_eq!(rules.columns(), ["user", "rhost", "addr"]);
        let line = b"segfault at 7f Failed password for root from 1.2.3.4";
        let mut out = MatchColumns::new(3);
        rules.match_contiguous(
            line,
            &[0i64, line.len() as i64],
            &|_| true,
            7,
            &mut rules.scratch(),
            &mut out,
        );
        assert_eq!(out.rows, [7, 7]);
        assert_eq!(out.captures[0].get(0), Some("root"));
        assert_eq!(out.captures[2].get(0), None);
        assert_eq!(out.captures[2].get(1), Some("7f"));
    }

    #[test]
    fn empty_rule_set_and_empty_input() {
        let rules = RuleSet::compile(&[]).unwrap();
        assert!(rules.is_empty());
        assert!(run(&rules, &["anything"]).is_empty());
        let rules = RuleSet::compile(&[spec("a", "abcd", false)]).unwrap();
        assert!(run(&rules, &[]).is_empty());
    }
}
