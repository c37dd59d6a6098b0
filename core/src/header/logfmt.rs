//! logfmt: the pair walk, a message's level pair, and whole lines of pairs as Go
//! services, Prometheus and Loki write them.

use super::bytes::{all_digits, is_ws, sl};
use super::calendar::resolve;
use super::driver::Parser;
use super::levels::{level_word, Level};
use super::timestamps::{parse_epoch, parse_numeric_dt};
use super::{Format, Header};

/// Walk the logfmt pairs of `b[s..lim]` (separated by blanks; values bare, or quoted
/// with backslash escapes, the quotes not part of the value), calling
/// `pair(key, value start, value end)` until it returns true. A token that is not a pair
/// ends the walk, unless `skip_words` (a message mixing prose and pairs: the word is passed
/// over whole, so `"… level=x"` inside a quoted prose word is not a pair). Returns the pairs
/// seen and whether the walk read everything up to `lim`. Never reads at or past `lim`.
fn logfmt_pairs(
    b: &[u8],
    s: usize,
    lim: usize,
    skip_words: bool,
    mut pair: impl FnMut(&[u8], usize, usize) -> bool,
) -> (usize, bool) {
    let key_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    let (mut i, mut pairs) = (s, 0);
    loop {
        while i < lim && is_ws(b[i]) {
            i += 1;
        }
        if i >= lim {
            return (pairs, true);
        }
        let ks = i;
        while i < lim && key_char(b[i]) {
            i += 1;
        }
        if i == ks || i >= lim || b[i] != b'=' {
            if !skip_words {
                return (pairs, false);
            }
            while i < lim && !is_ws(b[i]) {
                i += 1;
            }
            continue;
        }
        let key = &b[ks..i];
        let (vs, ve, next) = if i + 1 < lim && b[i + 1] == b'"' {
            let mut q = i + 2;
            while q < lim && b[q] != b'"' {
                q += if b[q] == b'\\' { 2 } else { 1 };
            }
            if q >= lim {
                // Cut by the bound: a pair whose value is not read; at the line's end: an
                // unclosed quote, not a pair.
                return (pairs + usize::from(lim < b.len()), false);
            }
            (i + 2, q, q + 1)
        } else {
            let mut e = i + 1;
            while e < lim && !is_ws(b[e]) {
                e += 1;
            }
            (i + 1, e, e)
        };
        pairs += 1;
        if pair(key, vs, ve) {
            return (pairs, false);
        }
        i = next;
        if i < lim && !is_ws(b[i]) && !skip_words {
            return (pairs, false); // `k="v"x`: not logfmt
        }
    }
}

/// The level of a logfmt `level`/`lvl`/`severity` pair in `msg` whose value is a level word.
pub(super) fn logfmt_level(msg: &[u8]) -> Option<Level> {
    // Most messages have no such key: one vectorised pass over the `=` signs says so
    // before the pair walk reads the message byte by byte.
    let named = memchr::memchr_iter(b'=', msg).any(|at| {
        let before = &msg[..at];
        before.ends_with(b"level") || before.ends_with(b"lvl") || before.ends_with(b"severity")
    });
    if !named {
        return None;
    }
    let mut level = None;
    logfmt_pairs(msg, 0, msg.len(), true, |key, vs, ve| {
        if matches!(key, b"level" | b"lvl" | b"severity") {
            level = level_word(&msg[vs..ve]);
        }
        level.is_some()
    });
    level
}

impl Parser<'_> {
    /// A line of logfmt pairs (module docs): at least two `key=value` pairs from its
    /// start, with a time, or with a level and nothing but pairs up to the line's end (a
    /// line such as `app=web level=INFO 2026-12-01 10:00:00 …` is left to the layouts that
    /// find its time). The message is the whole line.
    pub(super) fn logfmt(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let lim = b.len().min(s + 512);
        let (mut ts, mut level) = (None, None);
        let (pairs, to_end) = logfmt_pairs(b, s, lim, false, |key, vs, ve| {
            match key {
                b"ts" | b"time" | b"timestamp" if ts.is_none() => ts = self.logfmt_time(vs, ve),
                b"level" | b"lvl" | b"severity" if level.is_none() => {
                    level = level_word(sl(b, vs, ve))
                }
                _ => {}
            }
            false
        });
        let whole = to_end && lim == b.len();
        if pairs < 2 || !(ts.is_some() || (level.is_some() && whole)) {
            return None;
        }
        h.ts_us = ts;
        h.level = level;
        h.format = Format::Logfmt;
        Some(s)
    }

    /// A logfmt time value spanning `vs..ve`: RFC 3339 (or another numeric date-time this
    /// parser reads, Go's `… +0000 UTC` included) or epoch seconds, milli-, micro- or
    /// nanoseconds.
    pub(super) fn logfmt_time(&self, vs: usize, ve: usize) -> Option<i64> {
        let b = &self.b[..ve];
        if let Some(dt) = parse_numeric_dt(b, vs) {
            let rest = sl(b, dt.end, ve);
            if rest.is_empty() || rest == b" UTC" || rest == b" GMT" {
                return resolve(&dt.c, self.o);
            }
        }
        let v = sl(b, vs, ve);
        if v.len() == 19 && all_digits(v) {
            // Nanoseconds (zap, Loki): as microseconds, with the range epoch µs must have.
            let ns: i64 = std::str::from_utf8(v).ok()?.parse().ok()?;
            let us = ns / 1_000;
            return (1_000_000_000_000_000..=4_102_444_800_000_000)
                .contains(&us)
                .then_some(us);
        }
        parse_epoch(b, vs)
            .filter(|&(_, e)| e == ve)
            .map(|(us, _)| us)
    }
}

#[cfg(test)]
mod tests {
    use crate::header::driver::parse_header;
    use crate::header::levels::Level;
    use crate::header::testing::{msg, opts, ts};
    use crate::header::Format;

    #[test]
    fn logfmt_lines() {
        let l = r#"ts=2026-12-01T10:00:00.123Z caller=main.go:12 level=warn msg="scrape failed: \"x\"" target=http://x:9100/metrics"#;
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Logfmt);
        assert_eq!(h.ts_us, Some(ts(2026, 12, 1, 10, 0, 0) + 123_000));
        assert_eq!(h.level, Some(Level::Warning));
        assert_eq!(msg(l, &h), l, "the whole line is the message");
        // logrus: a quoted time with an offset, the level before the time.
        let l = r#"level=error time="2026-12-01T11:00:00+01:00" msg="db down""#;
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Logfmt);
        assert_eq!(h.ts_us, Some(ts(2026, 12, 1, 10, 0, 0)));
        assert_eq!(h.level, Some(Level::Error));
        // Epoch seconds with a fraction; a level without a time.
        let l = "ts=1764583200.5 lvl=info msg=x";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!((h.format, h.level), (Format::Logfmt, Some(Level::Info)));
        assert_eq!(h.ts_us, Some(1_764_583_200_500_000));
        let h = parse_header(b"level=debug msg=hello", &opts());
        assert_eq!(
            (h.format, h.ts_us, h.level),
            (Format::Logfmt, None, Some(Level::Debug))
        );
        // Not logfmt: one pair, pairs with neither time nor level, a time that is not one.
        for l in ["a=1", "x=1 y=2 z=3", "ts=yesterday msg=x"] {
            let h = parse_header(l.as_bytes(), &opts());
            assert_ne!(h.format, Format::Logfmt, "{l}");
            assert_eq!((h.ts_us, h.level), (None, None), "{l}");
        }
        // A level pair inside another format's message; not inside a longer key.
        let l = "Oct 11 22:14:15 web1 app[1]: ts=x level=\"warn\" msg=y";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!((h.format, h.level), (Format::Rfc3164, Some(Level::Warning)));
        let l = "Oct 11 22:14:15 web1 app[1]: loglevel=error is the default";
        assert_eq!(parse_header(l.as_bytes(), &opts()).level, None);
        // Pairs inside quoted values are text; a value that is not a level word does not
        // end the search; any of the three keys, tab-separated too.
        for (l, want) in [
            (
                r#"Oct 11 22:14:15 web1 app[1]: msg="raising level=debug for x" level=error"#,
                Some(Level::Error),
            ),
            (
                r#"Oct 11 22:14:15 web1 app[1]: msg="user set level=trace" lvl=warn"#,
                Some(Level::Warning),
            ),
            (
                "Oct 11 22:14:15 web1 app[1]: level=7 lvl=error msg=x",
                Some(Level::Error),
            ),
            (
                "Oct 11 22:14:15 web1 app[1]: a=1\tseverity=crit",
                Some(Level::Critical),
            ),
            (
                r#"Oct 11 22:14:15 web1 app[1]: he said "level=debug" once"#,
                None,
            ),
        ] {
            assert_eq!(parse_header(l.as_bytes(), &opts()).level, want, "{l}");
        }
        // Pairs that stop at a plain word, without a time of their own, leave the line to
        // the layouts that find its time.
        let l = "app=web level=INFO 2026-12-01 10:00:00,123 started";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(
            (h.format, h.ts_us),
            (Format::Iso8601, Some(ts(2026, 12, 1, 10, 0, 0) + 123_000))
        );
        // Go's time.Time format and epoch nanoseconds.
        let l = r#"time="2026-12-01 10:00:00.123456 +0000 UTC" level=info msg=x"#;
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(
            (h.format, h.ts_us),
            (Format::Logfmt, Some(ts(2026, 12, 1, 10, 0, 0) + 123_456))
        );
        let h = parse_header(b"ts=1764583200123456789 level=info msg=x", &opts());
        assert_eq!(h.ts_us, Some(1_764_583_200_123_456));
        // Odd input: an unclosed quote, a lone backslash, `=` at the end, a huge quoted value.
        let long = format!("ts=1764583200 msg=\"{}", "x\\".repeat(100_000));
        for l in [
            "level=\"warn",
            "level=warn msg=\\",
            "a= b=",
            "level=info x=",
            long.as_str(),
        ] {
            let _ = parse_header(l.as_bytes(), &opts());
        }
        assert_eq!(
            parse_header(long.as_bytes(), &opts()).format,
            Format::Logfmt
        );
    }
}
