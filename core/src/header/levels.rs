//! Level words and letters, and the level a syslog message opens with when it is marked
//! as one (module docs of `header`).

use super::bytes::{is_digit, skip_sp, sl, tok_end};
use super::driver::Parser;

/// Normalised severity, most severe first (syslog order, plus `Trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Emergency => "emergency",
            Level::Alert => "alert",
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    /// Syslog severity 0..=7 (values above 7 use `severity % 8`).
    pub fn from_severity(severity: u8) -> Level {
        match severity % 8 {
            0 => Level::Emergency,
            1 => Level::Alert,
            2 => Level::Critical,
            3 => Level::Error,
            4 => Level::Warning,
            5 => Level::Notice,
            6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// Normalise a level word as found in logs: the words listed in the module
    /// docs, plus the single letters `V D I W E F A` (logcat/glog) and BGL's
    /// `FAILURE` (→ error).
    pub fn from_word(word: &[u8]) -> Option<Level> {
        if word.len() == 1 {
            return level_letter(word);
        }
        level_word(word).or_else(|| {
            if word.eq_ignore_ascii_case(b"failure") {
                Some(Level::Error)
            } else {
                None
            }
        })
    }
}

pub(super) fn level_letter(w: &[u8]) -> Option<Level> {
    match w {
        b"V" => Some(Level::Trace),
        b"D" => Some(Level::Debug),
        b"I" => Some(Level::Info),
        b"W" => Some(Level::Warning),
        b"E" => Some(Level::Error),
        b"F" | b"A" => Some(Level::Critical),
        _ => None,
    }
}

/// Level words of three or more letters in UPPER, lower or Capitalised case.
pub(super) fn level_word(w: &[u8]) -> Option<Level> {
    let n = w.len();
    if !(3..=13).contains(&n) || !w[0].is_ascii_alphabetic() {
        return None;
    }
    let rest = &w[1..];
    let upper = w.iter().all(|c| c.is_ascii_uppercase() || is_digit(*c));
    let lower = rest.iter().all(|c| c.is_ascii_lowercase() || is_digit(*c));
    if !upper && !lower {
        return None;
    }
    let mut buf = [0u8; 13];
    for (d, s) in buf.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &buf[..n] {
        b"emerg" | b"emergency" | b"panic" => Level::Emergency,
        b"alert" => Level::Alert,
        b"crit" | b"critical" | b"fatal" => Level::Critical,
        b"err" | b"error" | b"severe" => Level::Error,
        b"warn" | b"warning" => Level::Warning,
        b"notice" | b"note" => Level::Notice,
        b"info" | b"information" | b"informational" => Level::Info,
        b"debug" => Level::Debug,
        b"trace" | b"verbose" | b"trace1" | b"trace2" | b"trace3" | b"trace4" | b"trace5"
        | b"trace6" | b"trace7" | b"trace8" => Level::Trace,
        _ => return None,
    })
}

/// `[INFO]`, `INFO:`, `<info>` → the word inside.
pub(super) fn strip_level_punct(w: &[u8]) -> &[u8] {
    let mut w = w;
    if let [b'[' | b'<' | b'(', inner @ .., b']' | b'>' | b')'] = w {
        w = inner;
    }
    w.strip_suffix(b":").unwrap_or(w)
}

impl Parser<'_> {
    /// Without PRI, a syslog message may open with its level: `ERROR …`,
    /// `[warn] …`, `Error: …` (UPPER case, bracketed or with a colon, so
    /// that prose such as "Error loading x" is not taken). The message keeps it.
    pub(super) fn peek_level(&self, m: usize) -> Option<Level> {
        let b = self.b;
        let m = skip_sp(b, m);
        self.marked_level(sl(b, m, tok_end(b, m)))
    }

    /// The level a token names when it is marked as one: UPPER case, bracketed or with a
    /// colon (`ERROR`, `[warn]`, `<error>`, `Error:`), not a word of prose.
    pub(super) fn marked_level(&self, tok: &[u8]) -> Option<Level> {
        let inner = strip_level_punct(tok);
        let marked = inner.len() < tok.len() || inner.iter().all(|c| c.is_ascii_uppercase());
        if marked {
            level_word(inner)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Level;
    use crate::header::driver::parse_header;
    use crate::header::testing::{msg, opts, txt};

    #[test]
    fn levels_that_open_the_message() {
        // rsyslog's file format: RFC 3339 time, host, tag, no PRI.
        let l = "2026-12-01T10:00:00+00:00 web1 nginx[12]: ERROR upstream timed out";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(txt(l, h.host), Some("web1"));
        assert_eq!(txt(l, h.app), Some("nginx"));
        assert_eq!(h.level, Some(Level::Error));
        // A level word where the host would be is the message's level, not a host or app.
        for l in [
            "Oct 11 22:14:15 ERROR disk gone",
            "Oct 11 22:14:15 ERROR: disk gone",
        ] {
            let h = parse_header(l.as_bytes(), &opts());
            assert_eq!(h.host, None, "{l}");
            assert_eq!(h.app, None, "{l}");
            assert_eq!(h.level, Some(Level::Error), "{l}");
            assert!(msg(l, &h).starts_with("ERROR"), "{l}");
        }
        // A host that is a word of prose stays a host.
        let l = "Oct 11 22:14:15 error sshd[1]: x";
        assert_eq!(
            txt(l, parse_header(l.as_bytes(), &opts()).host),
            Some("error")
        );
        // Angle brackets and parentheses after an ISO time.
        for l in [
            "2026-12-01 10:00:00 <error> x",
            "2026-12-01 10:00:00 (ERROR) x",
        ] {
            assert_eq!(
                parse_header(l.as_bytes(), &opts()).level,
                Some(Level::Error),
                "{l}"
            );
        }
    }

    #[test]
    fn level_words() {
        for (w, l) in [
            ("INFO", Level::Info),
            ("Info", Level::Info),
            ("info", Level::Info),
            ("WARN", Level::Warning),
            ("Warning", Level::Warning),
            ("ERR", Level::Error),
            ("SEVERE", Level::Error),
            ("FATAL", Level::Critical),
            ("CRITICAL", Level::Critical),
            ("NOTICE", Level::Notice),
            ("DEBUG", Level::Debug),
            ("TRACE", Level::Trace),
            ("V", Level::Trace),
            ("F", Level::Critical),
            ("FAILURE", Level::Error),
        ] {
            assert_eq!(Level::from_word(w.as_bytes()), Some(l), "{w}");
        }
        assert_eq!(Level::from_word(b"iNFO"), None);
        assert_eq!(Level::from_word(b"information!"), None);
        assert_eq!(Level::Warning.as_str(), "warning");
    }
}
