//! Numeric starts, a timestamp found among the first tokens, and the generic tail that
//! reads pid, level, thread and component after a timestamp (module docs of `header`).

use super::bytes::{all_digits, at, is_digit, skip_sp, sl, sp, tok_end};
use super::calendar::{resolve, Civil};
use super::driver::Parser;
use super::levels::{level_letter, level_word, strip_level_punct};
use super::timestamps::{parse_bsd, parse_epoch, parse_numeric_dt, parse_time};
use super::{Format, Header, Span};
use memchr::{memchr, memchr2, memrchr};

/// Index of the `]` matching the `[` at `i`, looking at most `limit` bytes ahead.
fn match_bracket(b: &[u8], i: usize, limit: usize) -> Option<usize> {
    let lim = b.len().min(i + limit);
    let mut depth = 0usize;
    let mut j = i;
    while j < lim {
        match memchr2(b'[', b']', sl(b, j, lim)) {
            Some(off) => {
                let k = j + off;
                if b[k] == b'[' {
                    depth += 1;
                } else if depth <= 1 {
                    return (depth == 1).then_some(k);
                } else {
                    depth -= 1;
                }
                j = k + 1;
            }
            None => return None,
        }
    }
    None
}

/// log4j `[thread:Class@line]` → the span of `Class`.
fn log4j_class(b: &[u8], a: usize, e: usize) -> Option<Span> {
    let inner = sl(b, a, e);
    let at_pos = memrchr(b'@', inner)?;
    if !all_digits(&inner[at_pos + 1..]) {
        return None;
    }
    let start = memrchr(b':', &inner[..at_pos]).map_or(0, |p| p + 1);
    if start >= at_pos {
        return None;
    }
    Some(sp(a + start, a + at_pos))
}

fn is_ident(t: &[u8]) -> bool {
    !t.is_empty()
        && t.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'$' | b'-' | b'/'))
}

/// Skips blanks and field separators (`,` `;` `|`, a lone `-` or `:`).
fn skip_seps(b: &[u8], mut i: usize) -> usize {
    loop {
        i = skip_sp(b, i);
        match at(b, i) {
            b',' | b';' | b'|' => i += 1,
            b'-' | b':' if matches!(at(b, i + 1), b' ' | b'\t' | 0) => i += 1,
            _ => return i.min(b.len()),
        }
    }
}

/// `Program - msg` / `Program *64 - msg`: end of the program name.
fn dash_app(b: &[u8], i: usize) -> Option<usize> {
    let lim = b.len().min(i + 96);
    let first_end = tok_end(b, i);
    let mut spaces = 0;
    let mut j = i;
    while j < lim {
        if b[j] == b' ' {
            if at(b, j + 1) == b'-' && matches!(at(b, j + 2), b' ' | 0) {
                if j == i {
                    return None;
                }
                let dotted = memchr(b'.', sl(b, i, first_end)).is_some();
                return if spaces == 0 || dotted { Some(j) } else { None };
            }
            spaces += 1;
            if spaces > 1 {
                return None;
            }
        } else if matches!(b[j], b':' | b'[' | b'"' | b'=') {
            return None;
        }
        j += 1;
    }
    None
}

pub(super) fn trim_back(b: &[u8], a: usize, mut e: usize) -> usize {
    while e > a && matches!(at(b, e - 1), b' ' | b'\t') {
        e -= 1;
    }
    e
}

impl Parser<'_> {
    pub(super) fn numeric(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        if let Some(dt) = parse_numeric_dt(b, s) {
            if self.set_dt(&dt, h) {
                return Some(self.tail(dt.end, h, dt.rfc3339));
            }
        }
        if let Some((us, e)) = parse_epoch(b, s) {
            h.ts_us = Some(us);
            h.format = Format::Epoch;
            return Some(self.tail(e, h, false));
        }
        self.hpc(s, h)
    }

    /// `hh:mm:ss[.fff] …` (logback's default pattern): no date, so no
    /// timestamp, but the tail (level, thread, logger) is still read.
    pub(super) fn time_only(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        if at(b, s + 2) != b':' {
            return None;
        }
        let e = parse_time(b, s, &mut Civil::default())?;
        if !matches!(at(b, e), b' ' | b'\t' | b'|' | b',') {
            return None;
        }
        h.format = Format::Generic;
        Some(self.tail(e, h, false))
    }

    /// A timestamp at one of the first tokens (after a prefix such as a file name).
    pub(super) fn scan(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let lim = b.len().min(s + 192);
        let mut i = s;
        let mut pre_level = None;
        for _ in 0..6 {
            let te = tok_end(b, i);
            if pre_level.is_none() {
                pre_level = level_word(strip_level_punct(sl(b, i, te)));
            }
            i = skip_sp(b, te);
            if i >= lim {
                return None;
            }
            let c = b[i];
            let m = if is_digit(c) {
                match parse_numeric_dt(b, i) {
                    Some(dt) if self.set_dt(&dt, h) => Some(self.tail(dt.end, h, dt.rfc3339)),
                    _ => None,
                }
            } else if c == b'[' {
                self.bracketed(i, h)
            } else if c.is_ascii_alphabetic() {
                match parse_bsd(b, i) {
                    Some((cv, e)) => match resolve(&cv, self.o) {
                        Some(ts) => {
                            h.ts_us = Some(ts);
                            h.format = Format::Generic;
                            Some(self.tail(e, h, false))
                        }
                        None => None,
                    },
                    None => None,
                }
            } else {
                None
            };
            if let Some(m) = m {
                if h.level.is_none() {
                    h.level = pre_level;
                }
                return Some(m);
            }
        }
        None
    }

    pub(super) fn unparsed(&self, s: usize, h: &mut Header) -> usize {
        let te = tok_end(self.b, s);
        if let Some(lv) = level_word(strip_level_punct(sl(self.b, s, te))) {
            h.level = Some(lv);
            h.format = Format::Generic;
            return skip_seps(self.b, te);
        }
        h.format = Format::Unparsed;
        s
    }

    // -- the generic tail ---------------------------------------------------

    /// Reads pid / level / thread / component after a timestamp (module docs).
    pub(super) fn tail(&self, i: usize, h: &mut Header, rfc3339: bool) -> usize {
        let b = self.b;
        let n = b.len();
        if at(b, i) == b'|' {
            return self.pipes(i, h);
        }
        if rfc3339 {
            if let Some(m) = self.host_tag_strict(i, h) {
                return m;
            }
        }
        let mut i = i;
        let mut saw_pid = false;
        for _ in 0..8 {
            i = skip_seps(b, i);
            if i >= n {
                return n;
            }
            if b[i] == b'[' {
                let Some(cl) = match_bracket(b, i, 512) else {
                    return i;
                };
                if h.level.is_none() {
                    if let Some(lv) = level_word(sl(b, i + 1, cl)) {
                        h.level = Some(lv);
                        i = cl + 1;
                        continue;
                    }
                }
                if h.app.is_some() {
                    return i;
                }
                let inner = sl(b, i + 1, cl);
                if h.pid.is_none() && h.level.is_none() && inner.len() <= 10 && all_digits(inner) {
                    h.pid = Some(sp(i + 1, cl));
                    i = cl + 1;
                    continue;
                }
                if let Some(a) = log4j_class(b, i + 1, cl) {
                    h.app = Some(a);
                }
                i = cl + 1;
                continue;
            }
            let te = tok_end(b, i);
            let tok = sl(b, i, te);
            if h.level.is_none() {
                // `ERROR`, `ERROR:`, `<error>`, `(ERROR)` (`[error]` is read above).
                let w = strip_level_punct(tok);
                let lv = level_word(w).or_else(|| if saw_pid { level_letter(w) } else { None });
                if let Some(lv) = lv {
                    h.level = Some(lv);
                    i = te;
                    continue;
                }
            }
            if !saw_pid
                && h.pid.is_none()
                && h.level.is_none()
                && h.app.is_none()
                && tok.len() <= 10
                && all_digits(tok)
            {
                h.pid = Some(sp(i, te));
                saw_pid = true;
                i = te;
                let j = skip_sp(b, i);
                let je = tok_end(b, j);
                if je > j && je - j <= 10 && all_digits(sl(b, j, je)) {
                    i = je; // thread id
                }
                continue;
            }
            if h.app.is_none() {
                if tok.len() >= 2 && tok[tok.len() - 1] == b':' {
                    self.app_token(i, te - 1, h);
                    return te;
                }
                if h.level.is_some() && is_ident(tok) {
                    let j = skip_sp(b, te);
                    if j >= te + 2 && j < n {
                        h.app = Some(sp(i, te));
                        return j;
                    }
                    if at(b, j) == b'[' && memchr(b'.', tok).is_some() {
                        h.app = Some(sp(i, te));
                        return match match_bracket(b, j, 512) {
                            Some(cl) => cl + 1,
                            None => j,
                        };
                    }
                }
                if let Some(ae) = dash_app(b, i) {
                    h.app = Some(sp(i, ae));
                    i = ae;
                    continue;
                }
            }
            return i;
        }
        i
    }

    /// `name:` → app; `name[pid]:` → app + pid; nginx `pid#tid:` → pid.
    pub(super) fn app_token(&self, a: usize, e: usize, h: &mut Header) {
        let b = self.b;
        let t = sl(b, a, e);
        if t.last() == Some(&b']') {
            if let Some(ob) = memrchr(b'[', t) {
                if ob > 0 && all_digits(&t[ob + 1..t.len() - 1]) {
                    h.app = Some(sp(a, a + ob));
                    h.pid = Some(sp(a + ob + 1, e - 1));
                    return;
                }
            }
        }
        if let Some(hash) = memchr(b'#', t) {
            if all_digits(&t[..hash]) && all_digits(&t[hash + 1..]) {
                h.pid = Some(sp(a, a + hash));
                return;
            }
        }
        h.app = Some(sp(a, e));
    }

    /// `|field|field|msg`: short blank-free fields are level / pid / app.
    pub(super) fn pipes(&self, mut i: usize, h: &mut Header) -> usize {
        let b = self.b;
        for _ in 0..4 {
            if at(b, i) != b'|' {
                break;
            }
            let fs = i + 1;
            let lim = b.len().min(fs + 128);
            let Some(off) = memchr(b'|', sl(b, fs, lim)) else {
                break;
            };
            let fe = fs + off;
            let f = sl(b, fs, fe);
            if f.is_empty() || f.iter().any(|&c| c == b' ' || c == b'\t') {
                break;
            }
            if h.level.is_none() && level_word(f).is_some() {
                h.level = level_word(f);
            } else if h.pid.is_none() && all_digits(f) {
                h.pid = Some(sp(fs, fe));
            } else if h.app.is_none() {
                h.app = Some(sp(fs, fe));
            } else {
                break;
            }
            i = fe;
        }
        if at(b, i) == b'|' {
            i + 1
        } else {
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::header::driver::parse_header;
    use crate::header::levels::Level;
    use crate::header::testing::{msg, opts, ts, txt};
    use crate::header::Format;

    #[test]
    fn iso_and_app_formats() {
        let l = "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Iso8601);
        assert_eq!(h.ts_us, Some(ts(2015, 10, 18, 18, 1, 47) + 978_000));
        assert_eq!(h.level, Some(Level::Info));
        assert_eq!(
            txt(l, h.app),
            Some("org.apache.hadoop.mapreduce.v2.app.MRAppMaster")
        );
        assert_eq!(msg(l, &h), "Created MRAppMaster");

        let l = "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:QuorumCnxManager$SendWorker@688] - Send worker leaving thread";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.level, Some(Level::Warning));
        assert_eq!(txt(l, h.app), Some("QuorumCnxManager$SendWorker"));
        assert_eq!(msg(l, &h), "Send worker leaving thread");

        let l = "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38 - - -] 10.11.10.1 \"GET /v2\"";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Iso8601);
        assert_eq!(h.ts_us, Some(ts(2017, 5, 16, 0, 0, 0) + 8_000));
        assert_eq!(txt(l, h.pid), Some("25746"));
        assert_eq!(txt(l, h.app), Some("nova.osapi_compute.wsgi.server"));
        assert_eq!(msg(l, &h), "10.11.10.1 \"GET /v2\"");

        let l = "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.level, Some(Level::Info));
        assert_eq!(txt(l, h.app), Some("CBS"));
        assert_eq!(msg(l, &h), "Loaded Servicing Stack");

        let l = "2015-10-18 18:01:47,978 - my.module - ERROR - boom";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.level, Some(Level::Error));
        assert_eq!(txt(l, h.app), Some("my.module"));
        assert_eq!(msg(l, &h), "boom");

        let l = "2020/01/01 12:00:00 [error] 1234#0: *1 open() failed";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.ts_us, Some(ts(2020, 1, 1, 12, 0, 0)));
        assert_eq!(h.level, Some(Level::Error));
        assert_eq!(txt(l, h.pid), Some("1234"));
        assert_eq!(msg(l, &h), "*1 open() failed");
    }

    #[test]
    fn more_app_formats() {
        let o = opts();
        // logback default pattern: no date, so no timestamp, but the fields.
        let l = "12:34:56.789 [main] INFO  com.example.App - Started";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!((h.ts_us, h.level), (None, Some(Level::Info)));
        assert_eq!(txt(l, h.app), Some("com.example.App"));
        assert_eq!(msg(l, &h), "Started");
        // PostgreSQL
        let l = "2024-01-01 12:00:00.123 UTC [1234] ERROR:  relation does not exist";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2024, 1, 1, 12, 0, 0) + 123_000));
        assert_eq!((txt(l, h.pid), h.level), (Some("1234"), Some(Level::Error)));
        assert_eq!(msg(l, &h), "relation does not exist");
        // MySQL
        let l = "2024-01-01T12:00:00.123456Z 0 [Note] [MY-010116] [Server] mysqld starting";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.level, Some(Level::Notice));
        // Go log
        let l = "2009/11/10 23:00:00 hello";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2009, 11, 10, 23, 0, 0)));
        assert_eq!(msg(l, &h), "hello");
        // A level prefix before the timestamp.
        let l = "[WARN] 2020-01-01 12:00:00 low disk";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(
            (h.ts_us, h.level),
            (Some(ts(2020, 1, 1, 12, 0, 0)), Some(Level::Warning))
        );
        assert_eq!(msg(l, &h), "low disk");
        // Syslog without PRI: a marked level word at the start of the message.
        let l = "Jun 15 04:06:20 combo logrotate: ALERT exited abnormally";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.level, Some(Level::Alert));
        assert_eq!(msg(l, &h), "ALERT exited abnormally");
        let h = parse_header(b"Jun 15 04:06:20 combo app: Error loading x", &o);
        assert_eq!(h.level, None);
        // Prose is not a header.
        let l = "2024-01-01 00:00:00 Starting server: port 80";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!((h.app, h.level), (None, None));
        assert_eq!(msg(l, &h), "Starting server: port 80");
        for l in ["1.2.3 something", "10:00 x", "{\"time\":1}"] {
            let h = parse_header(l.as_bytes(), &o);
            assert_eq!((h.format, h.ts_us), (Format::Unparsed, None), "{l}");
            assert_eq!(msg(l, &h), l);
        }
    }
}
