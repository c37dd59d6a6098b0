//! The masking tokenizer (step 1 of the miner, module docs of `templates`): one pass over
//! a line's bytes, no regexes, splitting at ASCII whitespace and turning the variable part of
//! each token into `<*>`; adjacent variables collapse into one.

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
pub(super) struct Line {
    pub(super) text: Vec<u8>,
    pub(super) toks: Vec<(u32, u32)>,
    pub(super) ids: Vec<u32>,
    pub(super) flags: Vec<u8>,
    /// Positions (below 64) holding a word.
    pub(super) word_mask: u64,
}

impl Line {
    #[inline]
    pub(super) fn tok(&self, i: usize) -> &[u8] {
        let (s, e) = self.toks[i];
        &self.text[s as usize..e as usize]
    }
    pub(super) fn len(&self) -> usize {
        self.toks.len()
    }
}

pub(super) fn tokenize(input: &[u8], mask: bool, max_tokens: usize, line: &mut Line) {
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

pub(super) const F_WILD: u8 = 1;
/// A word-like constant (letters, with `._-:=/` inside): differing words mark different events.
pub(super) const F_WORD: u8 = 2;
/// A word after which a variable usually follows (`user`).
pub(super) const F_KEY: u8 = 4;

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
pub(super) fn token_flags(tok: &[u8], keys: &[String]) -> u8 {
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

#[cfg(test)]
mod tests {
    use super::mask_line;

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
}
