//! Streaming, Drain-style log-template miner.
//!
//! Each line is mined as it comes and gets the id of its template at once; ids are stable
//! (a template keeps its id when its text is generalised later) and the state grows with the
//! number of templates, not lines. The design, in the order a line meets it:
//!
//! 1. **Masking tokenizer** (one pass over the bytes, no regexes): the line is split at ASCII
//!    whitespace and the variable parts of each token become `<*>`: numbers (`42`, `-1`,
//!    `3.5`, `0x1f`), numbers with units (`12ms`, `3.5KB`, `1190 bytes`), dates and times
//!    (`2016-09-28`, `04:30:30`, `Fri Jun 17`), IPs and host:port pairs, host names with a
//!    top-level label, paths and URLs, UUIDs, hex ids, ids with digits (`blk_-123`,
//!    `appattempt_1445_0020`), the values of `key=value` pairs when they hold digits or paths,
//!    and empty values (`()`). Adjacent variables collapse into one (`1.16 KB` and `00:01`
//!    and `0 bytes` are all one `<*>`), so lines whose variables span a varying number of
//!    words still share a template. Numbered names keep their letters (`eth0` -> `eth<*>`).
//! 2. **Whole-line cache**: a 128-bit hash of the masked line maps to the template id it got
//!    before, so the same shape gets the same id without touching the tree (bounded, cleared
//!    when full).
//! 3. **Prefix tree** (Drain): by token count, then by the first `depth - 2` tokens that are
//!    plain words; leaves hold templates.
//! 4. **Matching inside a leaf**: a template takes a line when they agree on enough positions
//!    (`sim_threshold`) and every disagreement may be a variable:
//!    - two different *words* at a position name different events (`opened`/`closed`,
//!      `Started`/`Paused`), so they never merge, except right after a variable-introducing
//!      word (`user root`, `for admin`, `user=guest`; see `variable_keys`);
//!    - other tokens (ids, dotted names, mixed tokens) may merge while the template is young:
//!      a template that already took `protect_after` lines (divided by the number of
//!      disagreeing positions) keeps its constants, and a line that differs starts a new
//!      template. Variables vary early; constants that held for many lines are constants.
//!
//!    The oldest template that already covers a line keeps it, else the most similar one
//!    takes it and the disagreeing positions become `<*>`.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use crate::hash::{hash_bytes, FxMap};

/// The text that stands for a variable in templates.
pub const WILDCARD: &str = "<*>";

/// Settings of a [`TemplateMiner`]. The defaults are tuned once for all kinds of logs
/// (16 loghub datasets), not per source.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MinerSettings {
    /// Depth of the prefix tree as in Drain: the root, the token-count level, then
    /// `depth - 2` levels of leading words.
    pub depth: usize,
    /// Share of positions on which a line and a template must agree for the template to take
    /// a line that differs from it.
    pub sim_threshold: f64,
    /// Children of a tree node before further tokens share its wildcard child.
    pub max_children: usize,
    /// Templates kept at most. Once reached, a line that no template may take goes to the
    /// closest template of its leaf, else to one catch-all template `<*>` (so `len()` may
    /// reach `max_templates + 1`).
    pub max_templates: usize,
    /// No "new template" signal (`is_new`) for the first this many lines.
    pub warmup_lines: u64,
    /// Replace variable parts of tokens by `<*>` before matching (see the module docs).
    pub mask_variables: bool,
    /// Entries of the whole-line cache (cleared when full).
    pub cache_capacity: usize,
    /// Longer lines are mined on their first this many bytes.
    pub max_line_bytes: usize,
    /// Tokens of a line mined at most; the rest of the line is one variable.
    pub max_tokens: usize,
    /// A template that took this many lines (divided by the number of differing positions)
    /// no longer turns differing constants into variables: such a line starts a new template.
    pub protect_after: u64,
    /// Different words at a position never merge (they name different events).
    pub split_words: bool,
    /// Words after which a variable follows (`user root`), and keys whose values are
    /// variables (`user=root`). Case-insensitive.
    pub variable_keys: Vec<String>,
}

impl Default for MinerSettings {
    fn default() -> Self {
        MinerSettings {
            depth: 4,
            sim_threshold: 0.6,
            max_children: 100,
            max_templates: 100_000,
            warmup_lines: 1_000,
            mask_variables: true,
            cache_capacity: 200_000,
            max_line_bytes: 16 * 1024,
            max_tokens: 256,
            protect_after: 48,
            split_words: true,
            variable_keys: ["user", "for"].iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// One template: its id, its text with variables as `<*>`, and how many lines it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    pub id: u32,
    pub text: String,
    pub count: u64,
}

// ---------------------------------------------------------------- masking tokenizer

const WILD_BYTES: &[u8] = b"<*>";

#[inline]
fn is_word(b: u8) -> bool {
    CLASS[b as usize] & C_WORD != 0
}

#[inline]
const fn is_lead_punct(b: u8) -> bool {
    matches!(b, b'(' | b'[' | b'{' | b'<' | b'"' | b'\'')
}

#[inline]
const fn is_trail_punct(b: u8) -> bool {
    matches!(
        b,
        b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b',' | b';' | b':' | b'.' | b'!' | b'?'
    )
}

/// Separators that, between two variables, fold them into one (`<*>.<*>` -> `<*>`).
#[inline]
fn is_collapse_sep(b: u8) -> bool {
    CLASS[b as usize] & C_SEP != 0
}

fn ends_with_wild(out: &[u8], mark: usize) -> bool {
    out.len() >= mark + 3 && out.ends_with(WILD_BYTES)
}

/// Push a variable, folding it into a variable just before it (directly or across one separator).
fn push_wild(out: &mut Vec<u8>, mark: usize) {
    let n = out.len();
    if ends_with_wild(out, mark) {
        return;
    }
    if n >= mark + 4 && is_collapse_sep(out[n - 1]) && out[..n - 1].ends_with(WILD_BYTES) {
        out.pop();
        return;
    }
    out.extend_from_slice(WILD_BYTES);
}

fn is_pathlike(core: &[u8]) -> bool {
    if core.len() < 3 {
        return false;
    }
    if core[0] == b'/' {
        return memchr::memchr(b'/', &core[1..]).is_some();
    }
    if core[0].is_ascii_alphabetic() && core[1] == b':' && core[2] == b'\\' {
        return true;
    }
    if core.starts_with(b"\\\\") {
        return true;
    }
    // A URL: `scheme://...`
    let mut from = 0;
    while let Some(k) = memchr::memchr(b':', &core[from..]) {
        let k = from + k;
        if core[k + 1..].starts_with(b"//") {
            return true;
        }
        from = k + 1;
    }
    false
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn is_uuid(core: &[u8]) -> bool {
    if core.len() != 36 {
        return false;
    }
    core.iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => is_hex(b),
    })
}

/// `key=value` with an identifier key: returns the index of '='.
fn key_eq(core: &[u8]) -> Option<usize> {
    let first = *core.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    for (k, &b) in core.iter().enumerate() {
        if b == b'=' {
            return Some(k);
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return None;
        }
    }
    None
}

/// `name.name...:<*>` (host and port), after run masking.
fn is_host_port(m: &[u8]) -> bool {
    let Some(body) = m.strip_suffix(b":<*>") else {
        return false;
    };
    if body.is_empty() {
        return false;
    }
    let mut segs = 0;
    for seg in body.split(|&b| b == b'.') {
        if seg.is_empty() {
            return false;
        }
        if !seg
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'<' | b'*' | b'>'))
        {
            return false;
        }
        segs += 1;
    }
    segs >= 2 || body == WILD_BYTES
}

/// A dotted host name ending in a short lower-case top-level label (`mail.example.com`),
/// after run masking (segments may hold `<*>`).
fn is_hostname(m: &[u8]) -> bool {
    let mut segs = 0;
    let mut seg_start = 0;
    for (i, &b) in m.iter().enumerate() {
        if b == b'.' {
            if i == seg_start {
                return false;
            }
            segs += 1;
            seg_start = i + 1;
        } else if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'<' | b'*' | b'>')) {
            return false;
        }
    }
    let last = &m[seg_start..];
    segs >= 1
        && ((2..=3).contains(&last.len()) || last == b"info")
        && last.iter().all(|b| b.is_ascii_lowercase())
}

/// Mask the variable parts of one token core (punctuation already split off).
fn mask_core(core: &[u8], classes: u16, out: &mut Vec<u8>, depth: u32) {
    if core.is_empty() {
        return;
    }
    if (classes & C_DIGIT != 0 && ((depth > 0 && is_plain_number(core)) || is_hex_number(core)))
        || (classes & (C_SLASH | C_COLON) != 0 && is_pathlike(core))
        || is_uuid(core)
    {
        out.extend_from_slice(WILD_BYTES);
        return;
    }
    if depth == 0 && classes & C_EQ != 0 {
        if let Some(k) = key_eq(core) {
            out.extend_from_slice(&core[..=k]);
            let value = &core[k + 1..];
            mask_core(value, classes_of(value), out, 1);
            return;
        }
    }
    let mark = out.len();
    let n = core.len();
    let mut i = 0;
    while i < n {
        let b = core[i];
        let c = CLASS[b as usize];
        let signed = c & C_WORD == 0
            && (b == b'-' || b == b'+')
            && i + 1 < n
            && CLASS[core[i + 1] as usize] & C_DIGIT != 0
            && (i == 0 || CLASS[core[i - 1] as usize] & (C_ALPHA | C_DIGIT) == 0);
        if c & C_WORD == 0 && !signed {
            out.push(b);
            i += 1;
            continue;
        }
        if n - i >= 36
            && c & (C_DIGIT | C_HEXALPHA) != 0
            && (i == 0 || !is_word(core[i - 1]))
            && is_uuid(&core[i..i + 36])
        {
            push_wild(out, mark);
            i += 36;
            continue;
        }
        let start = i;
        if signed {
            i += 1;
        }
        let mut rc = 0u16;
        while i < n {
            let c = CLASS[core[i] as usize];
            if c & C_WORD == 0 {
                break;
            }
            rc |= c;
            i += 1;
        }
        let run = &core[start..i];
        let len = run.len();
        let digit = rc & C_DIGIT != 0;
        // `eth0`, `en1`: keep the letters of a name with a one-digit suffix.
        if digit
            && !signed
            && (3..=5).contains(&len)
            && run[len - 1].is_ascii_digit()
            && run[..len - 1].iter().all(u8::is_ascii_alphabetic)
        {
            out.extend_from_slice(&run[..len - 1]);
            push_wild(out, mark);
            continue;
        }
        let var = digit || {
            let all_hex = rc & C_NONHEX == 0;
            all_hex
                && (len >= 8 || {
                    let o = out.len();
                    len >= 4
                        && o >= mark + 4
                        && is_collapse_sep(out[o - 1])
                        && out[..o - 1].ends_with(WILD_BYTES)
                })
        };
        if var {
            push_wild(out, mark);
        } else {
            out.extend_from_slice(run);
        }
    }
    let m = &out[mark..];
    if classes & C_DOT != 0 && m != WILD_BYTES && (is_host_port(m) || is_hostname(m)) {
        out.truncate(mark);
        out.extend_from_slice(WILD_BYTES);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Entirely variable: normalised to `<*>` (punctuation around it dropped).
    Var,
    Word,
    /// A month or weekday name: variable when it stands next to other date parts.
    DateWord,
    /// A unit (`KB`, `ms`, `bytes`, ...): folded into a number just before it.
    Unit,
}

fn is_date_word(core: &[u8]) -> bool {
    const NAMES: [&[u8; 3]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    // A scan of packed names: predictable, unlike a jump table on the bytes.
    let Ok(w) = <[u8; 3]>::try_from(core) else {
        return false;
    };
    NAMES.iter().fold(false, |hit, n| hit | (**n == w))
}

fn is_unit(core: &[u8]) -> bool {
    const UNITS: [&[u8]; 25] = [
        b"b", b"s", b"%", b"kb", b"mb", b"gb", b"tb", b"kib", b"mib", b"gib", b"bytes", b"byte",
        b"ms", b"us", b"ns", b"sec", b"secs", b"second", b"seconds", b"min", b"mins", b"minutes",
        b"hours", b"kbps", b"mbps",
    ];
    if core.is_empty() || core.len() > 7 {
        return false;
    }
    // `B` and `s` count only in that case (`b` and `S` are too often something else).
    if core.len() == 1 && !matches!(core[0], b'B' | b's' | b'%') {
        return false;
    }
    let mut buf = [0u8; 7];
    for (d, s) in buf.iter_mut().zip(core) {
        *d = s.to_ascii_lowercase();
    }
    let lower = &buf[..core.len()];
    UNITS.contains(&lower)
}

// Byte classes for the fast paths of the masker.
const C_ALPHA: u16 = 1;
const C_DIGIT: u16 = 2;
/// Bytes that need the full masker when they occur inside a token core: `/ \\ = .`
const C_SPECIAL: u16 = 4;
/// Separators that fold variables (`.`, `:`, `-`, ...).
const C_SEP: u16 = 8;
const C_HEXALPHA: u16 = 16;
const C_SPACE: u16 = 32;
/// Punctuation that may lead or trail a token core.
const C_EDGE: u16 = 64;
const C_DOT: u16 = 128;
const C_EQ: u16 = 256;
const C_SLASH: u16 = 512;
const C_COLON: u16 = 1024;
const C_WORD: u16 = 2048;
/// Word bytes that are not hex digits.
const C_NONHEX: u16 = 4096;
const C_LEAD: u16 = 8192;
const C_TRAIL: u16 = 16384;

const CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphabetic() {
            c |= C_ALPHA;
        }
        if b.is_ascii_digit() {
            c |= C_DIGIT;
        }
        if b.is_ascii_alphanumeric() || b >= 0x80 {
            c |= C_WORD;
            if !b.is_ascii_hexdigit() {
                c |= C_NONHEX;
            }
        }
        if matches!(b, b'a'..=b'f' | b'A'..=b'F') {
            c |= C_HEXALPHA;
        }
        if matches!(b, b'/' | b'\\' | b'=' | b'.') {
            c |= C_SPECIAL;
        }
        if matches!(
            b,
            b'.' | b':' | b'-' | b'/' | b'_' | b'@' | b',' | b'~' | b'+' | b'#'
        ) {
            c |= C_SEP;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            c |= C_SPACE;
        }
        if is_lead_punct(b) {
            c |= C_EDGE | C_LEAD;
        }
        if is_trail_punct(b) {
            c |= C_EDGE | C_TRAIL;
        }
        if b == b'.' {
            c |= C_DOT;
        }
        if b == b'=' {
            c |= C_EQ;
        }
        if b == b'/' || b == b'\\' {
            c |= C_SLASH;
        }
        if b == b':' {
            c |= C_COLON;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline]
fn classes_of(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0, |acc, &b| acc | CLASS[b as usize])
}

/// Does the text hold a run of 8 or more hex letters (`deadbeef`)?
fn has_long_hex(bytes: &[u8]) -> bool {
    // Branch-free: words are the common case and their letters defeat branch prediction.
    let mut run = 0u32;
    let mut longest = 0u32;
    for &b in bytes {
        let hex = u32::from(CLASS[b as usize] & C_HEXALPHA != 0);
        run = (run + 1) * hex;
        longest = longest.max(run);
    }
    longest >= 8
}

/// Nothing to mask in a core with these classes (no digit, path, key, dotted name, hex id).
#[inline]
fn is_plain_word(core: &[u8], classes: u16) -> bool {
    classes & (C_DIGIT | C_SPECIAL) == 0
        && (core.len() < 8 || classes & C_HEXALPHA == 0 || !has_long_hex(core))
}

/// A number, IP, time, date or version: digits joined by single separators (`-1`, `10.0.0.1:80`).
fn is_plain_number(core: &[u8]) -> bool {
    let body = match core {
        [b'-' | b'+', rest @ ..] => rest,
        _ => core,
    };
    let mut prev_sep = true;
    for &b in body {
        let c = CLASS[b as usize];
        if c & C_DIGIT != 0 {
            prev_sep = false;
        } else if c & C_SEP != 0 && !prev_sep && b != b'+' && b != b'-' {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !prev_sep
}

/// The kind of a token core that has nothing to mask. Units matter only right after a
/// variable, so they are looked for only there.
#[inline]
fn word_kind(core: &[u8], lead: usize, after_var: bool) -> Kind {
    if core.len() == 3 && core[0].is_ascii_uppercase() && is_date_word(core) {
        Kind::DateWord
    } else if after_var && lead == 0 && is_unit(core) {
        Kind::Unit
    } else {
        Kind::Word
    }
}

/// `0x1f`, `0XDEAD`
fn is_hex_number(core: &[u8]) -> bool {
    core.len() > 2
        && core[0] == b'0'
        && (core[1] | 0x20) == b'x'
        && core[2..].iter().all(|b| b.is_ascii_hexdigit())
}

/// Mask one whitespace-delimited token, appending its normalised form to `out`.
fn mask_token(raw: &[u8], raw_classes: u16, after_var: bool, out: &mut Vec<u8>) -> Kind {
    let start = out.len();
    let n = raw.len();
    let mut lead = 0;
    while lead < n && CLASS[raw[lead] as usize] & C_LEAD != 0 {
        lead += 1;
    }
    let mut trail = n;
    while trail > lead && CLASS[raw[trail - 1] as usize] & C_TRAIL != 0 {
        trail -= 1;
    }
    let core = &raw[lead..trail];
    if core.is_empty() {
        // An empty value: `()`, `[]`, `""`.
        if matches!(raw, b"()" | b"[]" | b"{}" | b"\"\"" | b"''" | b"<>") {
            out.extend_from_slice(WILD_BYTES);
            return Kind::Var;
        }
        out.extend_from_slice(raw);
        return Kind::Word;
    }
    // The classes of the whole token are a superset of the core's; that is exact enough
    // except for a `.` that may only end the token (`done.`), which decides the fast path.
    let classes = if raw_classes & C_SPECIAL != 0 && raw_classes & C_DIGIT == 0 {
        classes_of(core)
    } else {
        raw_classes
    };
    if is_plain_word(core, classes) {
        out.extend_from_slice(raw);
        return word_kind(core, lead, after_var);
    }
    if classes & C_DIGIT != 0 && is_plain_number(core) {
        out.extend_from_slice(WILD_BYTES);
        return Kind::Var;
    }
    out.extend_from_slice(&raw[..lead]);
    mask_core(core, classes, out, 0);
    if &out[start + lead..] == WILD_BYTES {
        out.truncate(start);
        out.extend_from_slice(WILD_BYTES);
        return Kind::Var;
    }
    out.extend_from_slice(&raw[trail..]);
    word_kind(core, lead, after_var)
}

/// One line split into normalised tokens.
#[derive(Default)]
struct Line {
    text: Vec<u8>,
    toks: Vec<(u32, u32)>,
    ids: Vec<u32>,
    flags: Vec<u8>,
    /// Positions (below 64) holding a word.
    word_mask: u64,
}

impl Line {
    #[inline]
    fn tok(&self, i: usize) -> &[u8] {
        let (s, e) = self.toks[i];
        &self.text[s as usize..e as usize]
    }
    fn len(&self) -> usize {
        self.toks.len()
    }
}

fn tokenize(input: &[u8], mask: bool, max_tokens: usize, line: &mut Line) {
    line.text.clear();
    line.toks.clear();
    let n = input.len();
    let mut i = 0;
    let mut last_var = false;
    // Start (text length, token count) of a run of date words ending the line so far.
    let mut date_run: Option<(usize, usize)> = None;
    while i < n {
        while i < n && CLASS[input[i] as usize] & C_SPACE != 0 {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        // One pass finds the end of the token and what kinds of bytes it holds.
        let mut classes = 0u16;
        for &b in &input[i..] {
            let c = CLASS[b as usize];
            if c & C_SPACE != 0 {
                break;
            }
            classes |= c;
            i += 1;
        }
        if line.toks.len() >= max_tokens {
            // Bounded work on pathological lines: the rest is one variable.
            if !last_var {
                push_tok(line, WILD_BYTES);
            }
            break;
        }
        let raw = &input[start..i];
        let sep = line.text.len();
        if !line.toks.is_empty() {
            line.text.push(b' ');
        }
        let s = line.text.len();
        let kind = if mask && classes & C_EDGE == 0 && is_plain_word(raw, classes) {
            // A plain word: nothing to mask, nothing to strip.
            copy_short(&mut line.text, input, start, i);
            word_kind(raw, 0, last_var)
        } else if mask {
            mask_token(raw, classes, last_var, &mut line.text)
        } else {
            line.text.extend_from_slice(raw);
            Kind::Word
        };
        match kind {
            Kind::Var => {
                line.text.truncate(sep);
                if let Some((len, count)) = date_run.take() {
                    line.text.truncate(len);
                    line.toks.truncate(count);
                    last_var = line
                        .toks
                        .last()
                        .is_some_and(|&(s, e)| &line.text[s as usize..e as usize] == WILD_BYTES);
                }
                if !last_var {
                    push_tok(line, WILD_BYTES);
                    last_var = true;
                }
            }
            Kind::Unit | Kind::DateWord if last_var => line.text.truncate(sep),
            Kind::DateWord => {
                if date_run.is_none() {
                    date_run = Some((sep, line.toks.len()));
                }
                line.toks.push((s as u32, line.text.len() as u32));
            }
            Kind::Word | Kind::Unit => {
                date_run = None;
                // Fold a repeated variable-bearing token (`@<*> @<*>`) into one.
                if let Some(&(ps, pe)) = line.toks.last() {
                    let (ps, pe) = (ps as usize, pe as usize);
                    let cur = &line.text[s..];
                    if pe - ps == cur.len()
                        && line.text[ps..pe] == *cur
                        && memchr::memmem::find(cur, WILD_BYTES).is_some()
                    {
                        line.text.truncate(sep);
                        continue;
                    }
                }
                line.toks.push((s as u32, line.text.len() as u32));
                last_var = false;
            }
        }
    }
}

const F_WILD: u8 = 1;
/// A word-like constant (letters, with `._-:=/` inside): differing words mark different events.
const F_WORD: u8 = 2;
/// A word after which a variable usually follows (`user`).
const F_KEY: u8 = 4;

fn is_var_key(w: &[u8], keys: &[String]) -> bool {
    keys.iter().any(|k| k.as_bytes().eq_ignore_ascii_case(w))
}

/// Strip punctuation around a token that may begin or end with `<*>`.
fn strip_punct_keep_wild(tok: &[u8]) -> &[u8] {
    let mut t = tok;
    while let [b, rest @ ..] = t {
        if is_lead_punct(*b) && !t.starts_with(WILD_BYTES) {
            t = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., b] = t {
        if is_trail_punct(*b) && !t.ends_with(WILD_BYTES) {
            t = rest;
        } else {
            break;
        }
    }
    t
}

/// Properties of a normalised token used by the matcher.
fn token_flags(tok: &[u8], keys: &[String]) -> u8 {
    if memchr::memmem::find(tok, WILD_BYTES).is_some() {
        // `eth<*>`, `en<*>`: a numbered name; the letters name the thing.
        let core = strip_punct_keep_wild(tok);
        let named = core.len() >= 5
            && core.ends_with(WILD_BYTES)
            && core[..core.len() - 3]
                .iter()
                .all(|b| b.is_ascii_alphabetic());
        return if named { F_WILD | F_WORD } else { F_WILD };
    }
    let n = tok.len();
    let mut lead = 0;
    while lead < n && is_lead_punct(tok[lead]) {
        lead += 1;
    }
    let mut trail = n;
    while trail > lead && is_trail_punct(tok[trail - 1]) {
        trail -= 1;
    }
    let core = &tok[lead..trail];
    if core.is_empty() || !core[0].is_ascii_alphabetic() {
        return 0;
    }
    if is_var_key(core, keys) {
        return F_KEY | F_WORD;
    }
    if !core
        .iter()
        .all(|&b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'_' | b'-' | b':' | b'=' | b'/'))
    {
        return 0;
    }
    match core.iter().position(|&b| b == b'=' || b == b':') {
        // `user=root`: the value of a variable-introducing key is not a word.
        Some(k) if is_var_key(&core[..k], keys) => 0,
        // `state=Active`, `action:android.intent.action.SCREEN_ON`
        Some(_) => F_WORD,
        // A dotted name that labels the message (`com.apple.job: ...`) names its subject:
        // a variable. Other dotted names (`mapred.job.id`) are words.
        None if (core.contains(&b'.') || core.contains(&b'/')) && tok.ends_with(b":") => 0,
        None => F_WORD,
    }
}

/// The masked, normalised form of a line as the miner sees it (tokens joined by one space).
pub fn mask_line(line: &[u8]) -> String {
    let mut l = Line::default();
    tokenize(line, true, usize::MAX, &mut l);
    String::from_utf8_lossy(&l.text).into_owned()
}

/// Append `input[start..end]` to `out`. Short tokens are copied as a fixed 16 bytes and cut
/// back, which avoids a variable-length copy (a call and hard-to-predict branches).
#[inline]
fn copy_short(out: &mut Vec<u8>, input: &[u8], start: usize, end: usize) {
    match input.get(start..start + 16) {
        Some(chunk) if end - start <= 16 => {
            let len = out.len() + (end - start);
            out.extend_from_slice(chunk);
            out.truncate(len);
        }
        _ => out.extend_from_slice(&input[start..end]),
    }
}

fn push_tok(line: &mut Line, tok: &[u8]) {
    if !line.toks.is_empty() {
        line.text.push(b' ');
    }
    let s = line.text.len() as u32;
    line.text.extend_from_slice(tok);
    line.toks.push((s, line.text.len() as u32));
}

// ---------------------------------------------------------------- miner state

/// A variable found by the masker (`<*>` in the line itself): matches only `<*>`.
const WILD: u32 = 0;
/// A position generalised by merging different tokens: matches any token.
const GEN: u32 = 1;
/// Internal spelling of GEN in the token table (no token can contain a space).
const GEN_STR: &str = " <*>";
const UNKNOWN: u32 = u32::MAX;
/// Leaves of the prefix tree searched for one line.
const MAX_LEAVES: usize = 8;

/// Token table: every token that appears in a template, by id. Lines are looked up here
/// without inserting, so the table grows with templates, not lines.
#[derive(Default)]
struct Interner {
    map: FxMap<Box<[u8]>, u32>,
    toks: Vec<Box<[u8]>>,
    flags: Vec<u8>,
    keys: Vec<String>,
}

impl Interner {
    fn new(keys: Vec<String>) -> Self {
        let mut i = Interner {
            keys,
            ..Interner::default()
        };
        i.intern(WILDCARD.as_bytes());
        i.intern(GEN_STR.as_bytes());
        i
    }
    fn get(&self, t: &[u8]) -> u32 {
        self.map.get(t).copied().unwrap_or(UNKNOWN)
    }
    fn intern(&mut self, t: &[u8]) -> u32 {
        if let Some(&id) = self.map.get(t) {
            return id;
        }
        let id = self.toks.len() as u32;
        self.toks.push(t.into());
        self.flags.push(token_flags(t, &self.keys));
        self.map.insert(t.into(), id);
        id
    }
    fn bytes(&self, id: u32) -> &[u8] {
        &self.toks[id as usize]
    }
    fn display(&self, id: u32) -> Cow<'_, str> {
        if id == GEN {
            Cow::Borrowed(WILDCARD)
        } else {
            String::from_utf8_lossy(self.bytes(id))
        }
    }
}

/// A token in a saved state: text, or its bytes when they are not UTF-8.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TokenRepr {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Default, Clone)]
struct Node {
    children: FxMap<u32, u32>,
    clusters: Vec<u32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Cluster {
    tokens: Vec<u32>,
    count: u64,
    /// Positions (below 64) holding a word that a different word may not replace: a quick
    /// test that rejects most templates of a crowded leaf. Derived from `tokens`.
    #[serde(skip)]
    word_mask: u64,
}

/// A streaming log-template miner. See the module docs for how it works.
///
/// ```
/// # use opsengine_core::templates::{MinerSettings, TemplateMiner};
/// let mut miner = TemplateMiner::new(MinerSettings::default());
/// let (a, _) = miner.mine(b"Accepted password for alice from 10.0.0.1 port 52311 ssh2");
/// let (b, _) = miner.mine(b"Accepted password for bob from 10.0.0.7 port 40022 ssh2");
/// assert_eq!(a, b);
/// assert_eq!(
///     miner.templates()[a as usize].text,
///     "Accepted password for <*> from <*> port <*> ssh<*>"
/// );
/// ```
pub struct TemplateMiner {
    settings: MinerSettings,
    interner: Interner,
    nodes: Vec<Node>,
    roots: FxMap<u32, u32>,
    clusters: Vec<Cluster>,
    lines: u64,
    cache: FxMap<u128, u32>,
    line: Line,
    leaves: Vec<u32>,
    overflow: Option<u32>,
    /// Per-instance seed of the line hash, so crafted lines cannot aim at collisions.
    seed: u64,
}

fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x6f70_7365_6e67_696e_u64)
}

impl TemplateMiner {
    pub fn new(settings: MinerSettings) -> Self {
        let keys = settings.variable_keys.clone();
        TemplateMiner {
            settings,
            interner: Interner::new(keys),
            nodes: Vec::new(),
            roots: FxMap::default(),
            clusters: Vec::new(),
            lines: 0,
            cache: FxMap::default(),
            line: Line::default(),
            leaves: Vec::new(),
            overflow: None,
            seed: random_seed(),
        }
    }

    pub fn settings(&self) -> &MinerSettings {
        &self.settings
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Lines mined so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Rough heap size of the miner's state in bytes (templates, tokens, tree, cache).
    pub fn memory_bytes(&self) -> usize {
        let tokens: usize = self.interner.toks.iter().map(|t| t.len() * 2 + 48).sum();
        let clusters: usize = self
            .clusters
            .iter()
            .map(|c| c.tokens.capacity() * 4 + std::mem::size_of::<Cluster>())
            .sum();
        let nodes: usize = self
            .nodes
            .iter()
            .map(|n| n.children.capacity() * 9 + n.clusters.capacity() * 4 + 80)
            .sum();
        tokens + clusters + nodes + self.cache.capacity() * 21
    }

    /// The text of one template (`None` for an unknown id).
    pub fn template_text(&self, id: u32) -> Option<String> {
        let c = self.clusters.get(id as usize)?;
        Some(self.render(&c.tokens))
    }

    fn render(&self, tokens: &[u32]) -> String {
        let mut s = String::new();
        for (i, &t) in tokens.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&self.interner.display(t));
        }
        s
    }

    /// All templates, by id.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.clusters
            .iter()
            .enumerate()
            .map(|(i, c)| TemplateInfo {
                id: i as u32,
                text: self.render(&c.tokens),
                count: c.count,
            })
            .collect()
    }

    /// Mine one line; returns (template id, is_new) where is_new is true when the line
    /// created a new template after warm-up. Any bytes are accepted; a trailing newline is
    /// whitespace like any other.
    pub fn mine(&mut self, line: &[u8]) -> (u32, bool) {
        self.lines += 1;
        let line = &line[..line.len().min(self.settings.max_line_bytes)];
        let mut buf = std::mem::take(&mut self.line);
        // Tokens split at ASCII whitespace; bytes that are not UTF-8 stay as they are (shown
        // lossily in template texts).
        tokenize(
            line,
            self.settings.mask_variables,
            self.settings.max_tokens.max(1),
            &mut buf,
        );
        let result = self.mine_tokens(&mut buf);
        self.line = buf;
        result
    }

    fn matches_exactly(&self, cid: u32, line: &Line) -> bool {
        let Some(c) = self.clusters.get(cid as usize) else {
            return false;
        };
        c.tokens.len() == line.len()
            && c.tokens
                .iter()
                .enumerate()
                .all(|(i, &t)| t == GEN || self.interner.bytes(t) == line.tok(i))
    }

    fn mine_tokens(&mut self, line: &mut Line) -> (u32, bool) {
        // Tokens are joined by single spaces, so the text alone identifies the token sequence.
        let key = hash_bytes(&line.text, self.seed);
        if let Some(&cid) = self.cache.get(&key) {
            let c = &mut self.clusters[cid as usize];
            if c.tokens.len() == line.len() || self.overflow == Some(cid) {
                c.count += 1;
                debug_assert!(self.overflow == Some(cid) || self.matches_exactly(cid, line));
                return (cid, false);
            }
        }
        line.ids.clear();
        line.flags.clear();
        for i in 0..line.len() {
            let id = self.interner.get(line.tok(i));
            line.ids.push(id);
            line.flags.push(match id {
                UNKNOWN => token_flags(line.tok(i), &self.interner.keys),
                _ => self.interner.flags[id as usize],
            });
        }
        line.word_mask = 0;
        for (i, &f) in line.flags.iter().enumerate().take(64) {
            if f & F_WORD != 0 {
                line.word_mask |= 1 << i;
            }
        }
        let (cid, is_new) = self.match_or_create(line);
        self.clusters[cid as usize].count += 1;
        if self.cache.len() >= self.settings.cache_capacity.max(1) {
            self.cache.clear();
        }
        self.cache.insert(key, cid);
        (cid, is_new && self.lines > self.settings.warmup_lines)
    }

    /// Can position `i` route the line in the prefix tree? Only where a different token would
    /// forbid a merge anyway: a word that does not follow a variable-introducing key.
    fn routable(&self, _id: u32, line: &Line, i: usize) -> bool {
        line.flags[i] & (F_WORD | F_WILD) == F_WORD && (i == 0 || line.flags[i - 1] & F_KEY == 0)
    }

    /// The leaves of the prefix tree that may hold the line's template: the path of its own
    /// tokens first, then the paths through wildcard children (a token's child may have been
    /// added after the line's template was placed under the wildcard). At most MAX_LEAVES.
    fn tree_leaves(&self, line: &Line, leaves: &mut Vec<u32>) {
        leaves.clear();
        let Some(&root) = self.roots.get(&(line.len() as u32)) else {
            return;
        };
        let levels = self.settings.depth.saturating_sub(2).min(line.len());
        let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
        while let Some((node, level)) = stack.pop() {
            if level == levels {
                leaves.push(node);
                if leaves.len() >= MAX_LEAVES {
                    return;
                }
                continue;
            }
            let n = &self.nodes[node as usize];
            let id = line.ids[level];
            // Pushed in reverse order of preference.
            if let Some(&w) = n.children.get(&WILD) {
                stack.push((w, level + 1));
            }
            if id != UNKNOWN && id != WILD {
                if let Some(&c) = n.children.get(&id) {
                    stack.push((c, level + 1));
                }
            }
        }
    }

    /// Similarity of a line to a template. With `early`, gives up (None) as soon as the
    /// template can no longer take the line.
    fn similarity(&self, cid: u32, line: &Line, early: bool) -> Option<Sim> {
        let c = &self.clusters[cid as usize];
        let n = c.tokens.len();
        let mut r = Sim::default();
        if n == 0 {
            r.score = 1.0;
            return Some(r);
        }
        if early && self.settings.split_words {
            // Two different words at a position: the template cannot take the line.
            let mut both = c.word_mask & line.word_mask;
            while both != 0 {
                let i = both.trailing_zeros() as usize;
                if c.tokens[i] != line.ids[i] {
                    return None;
                }
                both &= both - 1;
            }
        }
        let need = self.settings.sim_threshold * n as f64;
        let protect = self.settings.protect_after;
        let mut same = 0usize;
        for (i, &t) in c.tokens.iter().enumerate() {
            if t == GEN || (t == WILD && line.flags[i] & F_WILD != 0 && line.ids[i] != WILD) {
                r.params += 1;
            } else if t == line.ids[i] {
                same += 1;
            } else {
                r.mismatches += 1;
                let after_key = i > 0 && self.interner.flags[c.tokens[i - 1] as usize] & F_KEY != 0;
                if self.interner.flags[t as usize] & line.flags[i] & F_WORD != 0 && !after_key {
                    r.word_mismatches += 1;
                }
                if early
                    && ((r.word_mismatches > 0 && self.settings.split_words)
                        || c.count >= protect / r.mismatches as u64
                        || ((same + n - i - 1) as f64) < need)
                {
                    return None;
                }
            }
        }
        r.score = same as f64 / n as f64;
        Some(r)
    }

    fn joinable(&self, cid: u32, sim: &Sim) -> bool {
        if sim.mismatches == 0 {
            return true;
        }
        if sim.score < self.settings.sim_threshold {
            return false;
        }
        if sim.word_mismatches > 0 && self.settings.split_words {
            return false;
        }
        let c = &self.clusters[cid as usize];
        c.count < self.settings.protect_after / sim.mismatches as u64
    }

    /// The template that takes the line among those in `leaves`: the oldest that covers it
    /// as it is, else the most similar (ties: more wildcards). With `joinable_only`, only
    /// templates allowed to take it.
    fn best_in_leaves(&self, leaves: &[u32], line: &Line, joinable_only: bool) -> Option<u32> {
        let mut best: Option<(u32, f64, usize)> = None;
        let mut covering: Option<u32> = None;
        for &leaf in leaves {
            for &cid in &self.nodes[leaf as usize].clusters {
                if covering.is_some_and(|c| c < cid) {
                    continue;
                }
                let Some(sim) = self.similarity(cid, line, joinable_only) else {
                    continue;
                };
                if joinable_only && !self.joinable(cid, &sim) {
                    continue;
                }
                if sim.mismatches == 0 {
                    covering = Some(covering.map_or(cid, |c| c.min(cid)));
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((_, bs, bp)) => sim.score > bs || (sim.score == bs && sim.params > bp),
                };
                if better {
                    best = Some((cid, sim.score, sim.params));
                }
            }
        }
        covering.or(best.map(|b| b.0))
    }

    fn match_or_create(&mut self, line: &Line) -> (u32, bool) {
        let mut leaves = std::mem::take(&mut self.leaves);
        self.tree_leaves(line, &mut leaves);
        let result = self.match_or_create_in(line, &leaves);
        self.leaves = leaves;
        result
    }

    fn match_or_create_in(&mut self, line: &Line, leaves: &[u32]) -> (u32, bool) {
        if let Some(cid) = self.best_in_leaves(leaves, line, true) {
            self.generalize(cid, line);
            return (cid, false);
        }
        if self.clusters.len() < self.settings.max_templates.max(1) {
            return (self.create(line), true);
        }
        // Full: the closest template takes the line.
        if let Some(cid) = self.best_in_leaves(leaves, line, false) {
            self.generalize(cid, line);
            return (cid, false);
        }
        (self.overflow_cluster(), false)
    }

    fn generalize(&mut self, cid: u32, line: &Line) {
        let c = &mut self.clusters[cid as usize];
        let mut changed = false;
        for (i, t) in c.tokens.iter_mut().enumerate() {
            if *t != GEN && *t != line.ids[i] {
                *t = GEN;
                changed = true;
            }
        }
        if changed {
            let mask = self.word_mask(&self.clusters[cid as usize].tokens);
            self.clusters[cid as usize].word_mask = mask;
        }
    }

    /// See `Cluster::word_mask`.
    fn word_mask(&self, tokens: &[u32]) -> u64 {
        let flags = &self.interner.flags;
        let mut mask = 0u64;
        for (i, &t) in tokens.iter().enumerate().take(64) {
            let after_key = i > 0 && flags[tokens[i - 1] as usize] & F_KEY != 0;
            if flags[t as usize] & F_WORD != 0 && !after_key {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The catch-all template `<*>` for lines that no template may take once `max_templates`
    /// is reached and that have no template of their length and prefix at all.
    fn overflow_cluster(&mut self) -> u32 {
        if let Some(o) = self.overflow {
            return o;
        }
        let id = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            tokens: vec![GEN],
            count: 0,
            word_mask: 0,
        });
        self.overflow = Some(id);
        id
    }

    fn create(&mut self, line: &Line) -> u32 {
        let tokens: Vec<u32> = (0..line.len())
            .map(|i| self.interner.intern(line.tok(i)))
            .collect();
        let cid = self.clusters.len() as u32;
        let word_mask = self.word_mask(&tokens);
        self.clusters.push(Cluster {
            tokens,
            count: 0,
            word_mask,
        });
        self.add_to_tree(cid, line);
        cid
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    fn add_to_tree(&mut self, cid: u32, line: &Line) {
        let n = line.len() as u32;
        let mut node = match self.roots.get(&n) {
            Some(&r) => r,
            None => {
                let r = self.new_node();
                self.roots.insert(n, r);
                r
            }
        };
        let levels = self.settings.depth.saturating_sub(2).min(line.len());
        let max_children = self.settings.max_children.max(1);
        for i in 0..levels {
            let tok = self.clusters[cid as usize].tokens[i];
            if let Some(&next) = self.nodes[node as usize].children.get(&tok) {
                node = next;
                continue;
            }
            let routable = self.routable(tok, line, i);
            let n_children = self.nodes[node as usize].children.len();
            let has_wild = self.nodes[node as usize].children.contains_key(&WILD);
            let key = if !routable {
                WILD
            } else if has_wild {
                if n_children < max_children {
                    tok
                } else {
                    WILD
                }
            } else if n_children + 1 < max_children {
                tok
            } else {
                WILD
            };
            node = match self.nodes[node as usize].children.get(&key) {
                Some(&next) => next,
                None => {
                    let next = self.new_node();
                    self.nodes[node as usize].children.insert(key, next);
                    next
                }
            };
        }
        self.nodes[node as usize].clusters.push(cid);
    }

    // ------------------------------------------------------------ persistence

    /// The whole state (settings, token table, tree, templates, counters) as JSON.
    pub fn save(&self) -> Vec<u8> {
        let snap = Snapshot {
            version: 1,
            settings: self.settings.clone(),
            tokens: self
                .interner
                .toks
                .iter()
                .map(|t| match std::str::from_utf8(t) {
                    Ok(s) => TokenRepr::Text(s.to_string()),
                    Err(_) => TokenRepr::Bytes(t.to_vec()),
                })
                .collect(),
            roots: {
                let mut r: Vec<(u32, u32)> = self.roots.iter().map(|(&k, &v)| (k, v)).collect();
                r.sort_unstable();
                r
            },
            nodes: self
                .nodes
                .iter()
                .map(|n| {
                    let mut children: Vec<(u32, u32)> =
                        n.children.iter().map(|(&k, &v)| (k, v)).collect();
                    children.sort_unstable();
                    NodeSnap {
                        children,
                        clusters: n.clusters.clone(),
                    }
                })
                .collect(),
            clusters: self.clusters.clone(),
            lines: self.lines,
            overflow: self.overflow,
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// A miner from [`TemplateMiner::save`] output; a malformed state is an error, never a
    /// panic. Mining goes on with the same ids.
    pub fn load(bytes: &[u8]) -> Result<Self, String> {
        let snap: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| format!("template miner state: {e}"))?;
        if snap.version != 1 {
            return Err(format!(
                "template miner state: unsupported version {}",
                snap.version
            ));
        }
        let token_bytes = |t: &TokenRepr| -> Vec<u8> {
            match t {
                TokenRepr::Text(s) => s.as_bytes().to_vec(),
                TokenRepr::Bytes(b) => b.clone(),
            }
        };
        if snap.tokens.len() < 2
            || token_bytes(&snap.tokens[0]) != WILDCARD.as_bytes()
            || token_bytes(&snap.tokens[1]) != GEN_STR.as_bytes()
        {
            return Err("template miner state: token table must start with the wildcards".into());
        }
        let n_tokens = snap.tokens.len() as u64;
        let n_nodes = snap.nodes.len() as u64;
        let n_clusters = snap.clusters.len() as u64;
        let bad = |what: &str| Err(format!("template miner state: {what} out of range"));
        let mut interner = Interner {
            keys: snap.settings.variable_keys.clone(),
            ..Interner::default()
        };
        for t in &snap.tokens {
            let b = token_bytes(t);
            if interner.map.contains_key(b.as_slice()) {
                return Err("template miner state: duplicate token".into());
            }
            interner.intern(&b);
        }
        for c in &snap.clusters {
            if c.tokens.iter().any(|&t| t as u64 >= n_tokens) {
                return bad("token id");
            }
        }
        let mut roots = FxMap::default();
        for &(k, v) in &snap.roots {
            if v as u64 >= n_nodes {
                return bad("node id");
            }
            roots.insert(k, v);
        }
        let mut nodes = Vec::with_capacity(snap.nodes.len());
        for n in snap.nodes {
            let mut children = FxMap::default();
            for (k, v) in n.children {
                if v as u64 >= n_nodes || k as u64 >= n_tokens {
                    return bad("node child");
                }
                children.insert(k, v);
            }
            for &c in &n.clusters {
                if c as u64 >= n_clusters {
                    return bad("template id");
                }
            }
            nodes.push(Node {
                children,
                clusters: n.clusters,
            });
        }
        // Leaves must hold templates of the right length, or similarity would index past the end.
        for (&len, &root) in &roots {
            let mut stack = vec![root];
            let mut seen = 0usize;
            while let Some(nid) = stack.pop() {
                seen += 1;
                if seen > nodes.len() {
                    return Err("template miner state: tree has a cycle".into());
                }
                let node: &Node = &nodes[nid as usize];
                for &c in &node.clusters {
                    if snap.clusters[c as usize].tokens.len() != len as usize {
                        return Err("template miner state: template in the wrong leaf".into());
                    }
                }
                stack.extend(node.children.values().copied());
            }
        }
        if let Some(o) = snap.overflow {
            if o as u64 >= n_clusters {
                return bad("overflow id");
            }
        }
        let mut miner = TemplateMiner {
            settings: snap.settings,
            interner,
            nodes,
            roots,
            clusters: snap.clusters,
            lines: snap.lines,
            cache: FxMap::default(),
            line: Line::default(),
            leaves: Vec::new(),
            overflow: snap.overflow,
            seed: random_seed(),
        };
        for i in 0..miner.clusters.len() {
            let mask = miner.word_mask(&miner.clusters[i].tokens);
            miner.clusters[i].word_mask = mask;
        }
        Ok(miner)
    }
}

#[derive(Default)]
struct Sim {
    score: f64,
    params: usize,
    mismatches: usize,
    word_mismatches: usize,
}

#[derive(Serialize, Deserialize)]
struct NodeSnap {
    children: Vec<(u32, u32)>,
    clusters: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    settings: MinerSettings,
    tokens: Vec<TokenRepr>,
    roots: Vec<(u32, u32)>,
    nodes: Vec<NodeSnap>,
    clusters: Vec<Cluster>,
    lines: u64,
    overflow: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> TemplateMiner {
        TemplateMiner::new(MinerSettings::default())
    }

    fn ids(m: &mut TemplateMiner, lines: &[&str]) -> Vec<u32> {
        lines.iter().map(|l| m.mine(l.as_bytes()).0).collect()
    }

    /// A small deterministic random source (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn masks_common_variables() {
        let cases: &[(&str, &str)] = &[
            ("took 42 ms", "took <*>"),
            ("value -17 and +3", "value <*> and <*>"),
            ("ratio 3.25", "ratio <*>"),
            ("flags 0x1f set", "flags <*> set"),
            ("size 3.5KB free 12ms", "size <*> free <*>"),
            ("1190 bytes (1.16 KB) sent", "<*> sent"),
            ("at 2016-09-28 04:30:30,123 done", "at <*> done"),
            ("at Fri Jun 17 07:07:00 2005 done", "at <*> done"),
            ("from 10.0.0.1 port 22", "from <*> port <*>"),
            ("connect 10.1.2.3:8080 ok", "connect <*> ok"),
            ("connect proxy.example.com:5070 ok", "connect <*> ok"),
            ("host mail.example.com down", "host <*> down"),
            ("open /var/log/syslog failed", "open <*> failed"),
            (r"open C:\Windows\system32 failed", "open <*> failed"),
            ("get http://example.com/a?b=1 ok", "get <*> ok"),
            (
                "instance 0673dd71-34c5-4fbb-86c4-40623fbe45b4 started",
                "instance <*> started",
            ),
            (
                "id a489c868f0c37da93b76227c91bb03908ac0e742 ok",
                "id <*> ok",
            ),
            (
                "block blk_-6952295868487656571 and blk_38865",
                "block blk_<*> and blk_<*>",
            ),
            (
                "app appattempt_1445144423722_0020_000001 up",
                "app appattempt_<*> up",
            ),
            ("uid=0 euid=1000 tty=ssh", "uid=<*> euid=<*> tty=ssh"),
            ("path=/tmp/x mode=rw", "path=<*> mode=rw"),
            ("link on eth0 and en1", "link on eth<*> and en<*>"),
            ("from  ()  at", "from <*> at"),
            ("list 1 2 3 4 end", "list <*> end"),
            ("stack @0x7fed @0x7fef @0xff83 end", "stack @<*> end"),
            ("[173.234.31.186] failed", "<*> failed"),
            ("  leading and trailing  ", "leading and trailing"),
            ("", ""),
        ];
        for (line, want) in cases {
            assert_eq!(mask_line(line.as_bytes()), *want, "masking {line:?}");
        }
    }

    #[test]
    fn same_shape_same_id_and_generalisation_keeps_ids() {
        let mut m = miner();
        let v = ids(
            &mut m,
            &[
                "Failed password for root from 10.0.0.1 port 22 ssh2",
                "Failed password for admin from 10.0.0.2 port 2222 ssh2",
                "session opened for user root by (uid=0)",
                "session closed for user root",
                "session opened for user news by (uid=0)",
                "Failed password for root from 10.0.0.9 port 1 ssh2",
            ],
        );
        assert_eq!(v[0], v[1]);
        assert_eq!(v[0], v[5]);
        assert_eq!(v[2], v[4]);
        assert_ne!(v[2], v[3]);
        assert_ne!(v[0], v[2]);
        assert_eq!(
            m.template_text(v[0]).unwrap(),
            "Failed password for <*> from <*> port <*> ssh<*>"
        );
        assert_eq!(
            m.template_text(v[2]).unwrap(),
            "session opened for user <*> by (uid=<*>)"
        );
        let t = m.templates();
        assert_eq!(t.len(), m.len());
        assert_eq!(t[v[0] as usize].count, 3);
        assert_eq!(t.iter().map(|t| t.count).sum::<u64>(), 6);
    }

    #[test]
    fn different_words_are_different_events() {
        let mut m = miner();
        let v = ids(
            &mut m,
            &[
                "VM Started (Lifecycle Event)",
                "VM Paused (Lifecycle Event)",
                "VM Started (Lifecycle Event)",
                "Location icon should now be in state 'Active'",
                "Location icon should now be in state 'Inactive'",
            ],
        );
        assert_ne!(v[0], v[1]);
        assert_eq!(v[0], v[2]);
        assert_ne!(v[3], v[4]);
    }

    #[test]
    fn old_constants_are_protected_young_ones_generalise() {
        let mut m = miner();
        // A young template takes a differing name...
        let a = m.mine(b"job alice@corp finished").0;
        let b = m.mine(b"job bob@corp finished").0;
        assert_eq!(a, b);
        assert_eq!(m.template_text(a).unwrap(), "job <*> finished");
        // ...one that held the same value for many lines does not.
        for _ in 0..100 {
            m.mine(b"client agent@host ready");
        }
        let c = m.mine(b"client agent@host ready").0;
        let d = m.mine(b"client spp@host ready").0;
        assert_ne!(c, d);
    }

    #[test]
    fn ids_survive_cache_clearing() {
        let settings = MinerSettings {
            cache_capacity: 2,
            ..MinerSettings::default()
        };
        let mut m = TemplateMiner::new(settings);
        let lines: Vec<String> = (0..200)
            .map(|i| match i % 4 {
                0 => format!("request {i} served in {}ms", i * 3),
                1 => format!("user u{i} logged in from 10.0.{}.1", i % 7),
                2 => "cache flushed".to_string(),
                _ => format!("disk /dev/sd{} at {}% capacity", i % 3, i % 100),
            })
            .collect();
        let first: Vec<u32> = lines.iter().map(|l| m.mine(l.as_bytes()).0).collect();
        let again: Vec<u32> = lines.iter().map(|l| m.mine(l.as_bytes()).0).collect();
        assert_eq!(first, again);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn is_new_only_after_warmup() {
        let settings = MinerSettings {
            warmup_lines: 3,
            ..MinerSettings::default()
        };
        let mut m = TemplateMiner::new(settings);
        assert_eq!(m.mine(b"alpha one"), (0, false));
        assert_eq!(m.mine(b"beta two three"), (1, false));
        assert_eq!(m.mine(b"alpha one"), (0, false));
        assert_eq!(m.mine(b"gamma four five six"), (2, true));
        assert_eq!(m.mine(b"gamma four five six"), (2, false));
        assert_eq!(m.mine(b"beta two three"), (1, false));
    }

    #[test]
    fn save_and_load_continue_with_the_same_ids() {
        let mut rng = Rng(7);
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
        let lines: Vec<String> = (0..2000)
            .map(|_| {
                let w = words[rng.below(6) as usize];
                let v = words[rng.below(6) as usize];
                match rng.below(3) {
                    0 => format!(
                        "{w} started on node-{} in {}ms",
                        rng.below(50),
                        rng.below(999)
                    ),
                    1 => format!("{w} {v} failed: code {}", rng.below(5)),
                    _ => format!(
                        "user {} sent {} bytes to {w}",
                        rng.below(9),
                        rng.below(1 << 20)
                    ),
                }
            })
            .collect();
        let mut a = miner();
        for l in &lines[..1000] {
            a.mine(l.as_bytes());
        }
        let state = a.save();
        let mut b = TemplateMiner::load(&state).expect("load");
        assert_eq!(a.templates(), b.templates());
        assert_eq!(b.settings(), a.settings());
        for l in &lines[1000..] {
            assert_eq!(a.mine(l.as_bytes()), b.mine(l.as_bytes()), "{l}");
        }
        assert_eq!(a.templates(), b.templates());
        // A second round trip is byte-identical.
        assert_eq!(TemplateMiner::load(&b.save()).unwrap().save(), b.save());
    }

    #[test]
    fn load_rejects_bad_state_without_panicking() {
        let good = {
            let mut m = miner();
            m.mine(b"hello world 1");
            m.mine(b"something else entirely");
            String::from_utf8(m.save()).unwrap()
        };
        for bad in [
            "",
            "{}",
            "null",
            "[1,2,3]",
            "{\"version\": 2}",
            &good.replace("\"version\":1", "\"version\":9"),
            &good.replace(
                "\"clusters\":[{\"tokens\":[",
                "\"clusters\":[{\"tokens\":[999999,",
            ),
            &good.replace("\"roots\":[[", "\"roots\":[[7,12345],["),
        ] {
            assert!(
                TemplateMiner::load(bad.as_bytes()).is_err(),
                "accepted {bad:?}"
            );
        }
        // Random corruptions: an error or a working miner, never a panic.
        let mut rng = Rng(11);
        for _ in 0..300 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = b"0123456789[]{},:\"x"[rng.below(18) as usize];
            }
            if let Ok(mut m) = TemplateMiner::load(&bytes) {
                m.mine(b"hello world 2");
                m.mine(b"");
                let _ = m.templates();
            }
        }
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut rng = Rng(3);
        let mut m = TemplateMiner::new(MinerSettings {
            max_templates: 500,
            cache_capacity: 1000,
            ..MinerSettings::default()
        });
        let alphabet: &[u8] = b" \t\n\r0123456789abcdefxyzABCXYZ.:-/_=@,~+#()[]{}<>\"'!?\\*%";
        for n in 0..20_000 {
            let len = rng.below(if n % 100 == 0 { 5000 } else { 80 }) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| match rng.below(10) {
                    0 => rng.next() as u8,
                    1 => 0xff,
                    _ => alphabet[rng.below(alphabet.len() as u64) as usize],
                })
                .collect();
            let (id, _) = m.mine(&line);
            assert!((id as usize) < m.len());
        }
        assert!(m.len() <= 501);
        let _ = m.templates();
        let back = TemplateMiner::load(&m.save()).expect("round trip");
        assert_eq!(back.templates(), m.templates());
    }

    #[test]
    fn invalid_utf8_is_mined_as_bytes() {
        let mut m = miner();
        let a = m.mine(b"bad \xff\xfe token 12").0;
        let b = m.mine(b"bad \xff\xfe token 99").0;
        let c = m.mine(b"other \xfe\xff token here 99").0;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            m.template_text(a).unwrap(),
            "bad \u{fffd}\u{fffd} token <*>"
        );
        let back = TemplateMiner::load(&m.save()).unwrap();
        assert_eq!(back.templates(), m.templates());
    }

    #[test]
    fn max_templates_caps_memory() {
        let mut m = TemplateMiner::new(MinerSettings {
            max_templates: 10,
            ..MinerSettings::default()
        });
        for i in 0..1000 {
            let line = format!(
                "event{} kind{} happened",
                (b'a' + (i % 26) as u8) as char,
                i
            );
            m.mine(line.as_bytes());
            let other = format!("w{} x{} y{} z{}", i, i * 7, i * 13, i * 17);
            m.mine(other.as_bytes());
        }
        assert!(m.len() <= 11, "{}", m.len());
    }

    #[test]
    fn memory_grows_with_templates_not_lines() {
        let mut m = miner();
        let mut rng = Rng(5);
        for _ in 0..50_000 {
            let line = format!(
                "GET /api/v1/items/{} from 10.0.{}.{} took {}ms status {}",
                rng.below(1_000_000),
                rng.below(256),
                rng.below(256),
                rng.below(5000),
                200 + rng.below(5)
            );
            m.mine(line.as_bytes());
        }
        let small = m.memory_bytes();
        for _ in 0..200_000 {
            let line = format!(
                "GET /api/v1/items/{} from 10.0.{}.{} took {}ms status {}",
                rng.below(1_000_000),
                rng.below(256),
                rng.below(256),
                rng.below(5000),
                200 + rng.below(5)
            );
            m.mine(line.as_bytes());
        }
        assert_eq!(m.len(), 1);
        assert!(
            m.memory_bytes() <= small + 1024,
            "{} -> {}",
            small,
            m.memory_bytes()
        );
    }

    #[test]
    fn settings_round_trip_and_defaults_fill_in() {
        let s: MinerSettings = serde_json::from_str("{\"depth\": 5}").unwrap();
        assert_eq!(s.depth, 5);
        assert_eq!(s.sim_threshold, MinerSettings::default().sim_threshold);
        let json = serde_json::to_string(&MinerSettings::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<MinerSettings>(&json).unwrap(),
            MinerSettings::default()
        );
    }

    #[test]
    fn masking_off_mines_raw_tokens() {
        let mut m = TemplateMiner::new(MinerSettings {
            mask_variables: false,
            ..MinerSettings::default()
        });
        let a = m.mine(b"took 1 ms to connect").0;
        let b = m.mine(b"took 2 ms to connect").0;
        assert_eq!(a, b);
        assert_eq!(m.template_text(a).unwrap(), "took <*> ms to connect");
    }

    #[test]
    fn pathological_lines_are_bounded() {
        let mut m = miner();
        let long: Vec<u8> = (0..100_000)
            .map(|i| if i % 3 == 0 { b' ' } else { b'a' })
            .collect();
        let (id, _) = m.mine(&long);
        let text = m.template_text(id).unwrap();
        assert!(text.split(' ').count() <= MinerSettings::default().max_tokens + 1);
        let (id2, _) = m.mine(&long);
        assert_eq!(id, id2);
        assert_eq!(m.mine(b"   \t  ").0, m.mine(b"").0);
    }
}
