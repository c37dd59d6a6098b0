//! Apache: bracketed timestamps with the error-log fields, and access logs (common and
//! combined) whose level comes from the status.

use super::bytes::{at, digit_run, num, skip_sp, sl, sp, tok_end};
use super::calendar::resolve;
use super::driver::Parser;
use super::levels::{level_word, Level};
use super::timestamps::{parse_bsd, parse_clf, parse_ctime, parse_epoch, parse_numeric_dt};
use super::{Format, Header};
use memchr::{memchr, memchr2, memrchr};

impl Parser<'_> {
    pub(super) fn bracketed(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let lim = b.len().min(s + 72);
        let close = s + 1 + memchr(b']', sl(b, s + 1, lim))?;
        let i = skip_sp(b, s + 1);
        let fits = |e: usize| skip_sp(b, e) == close;
        if let Some((c, e)) = parse_ctime(b, i) {
            if fits(e) {
                let ts = resolve(&c, self.o)?;
                h.ts_us = Some(ts);
                return Some(self.apache_error(close + 1, h));
            }
        }
        if let Some(dt) = parse_numeric_dt(b, i) {
            if fits(dt.end) && self.set_dt(&dt, h) {
                return Some(self.tail(close + 1, h, false));
            }
        }
        if let Some((c, e)) = parse_clf(b, i) {
            if fits(e) {
                h.ts_us = Some(resolve(&c, self.o)?);
                h.format = Format::Generic;
                return Some(self.tail(close + 1, h, false));
            }
        }
        if let Some((us, e)) = parse_epoch(b, i) {
            if fits(e) {
                h.ts_us = Some(us);
                h.format = Format::Epoch;
                return Some(self.tail(close + 1, h, false));
            }
        }
        if let Some((c, e)) = parse_bsd(b, i) {
            if fits(e) {
                h.ts_us = Some(resolve(&c, self.o)?);
                h.format = Format::Generic;
                return Some(self.tail(close + 1, h, false));
            }
        }
        None
    }

    /// After `[ctime]`: `[module:]level]`, optional `[pid N[:tid M]]`.
    pub(super) fn apache_error(&self, i: usize, h: &mut Header) -> usize {
        let b = self.b;
        let i = skip_sp(b, i);
        if at(b, i) == b'[' {
            let lim = b.len().min(i + 48);
            if let Some(off) = memchr(b']', sl(b, i + 1, lim)) {
                let cl = i + 1 + off;
                let inner = sl(b, i + 1, cl);
                let word = match memrchr(b':', inner) {
                    Some(p) => &inner[p + 1..],
                    None => inner,
                };
                if let Some(lv) = level_word(word) {
                    h.level = Some(lv);
                    h.format = Format::ApacheError;
                    let mut j = skip_sp(b, cl + 1);
                    if sl(b, j, j + 5) == b"[pid " {
                        let ps = j + 5;
                        let pe = digit_run(b, ps);
                        let plim = b.len().min(j + 64);
                        if pe > ps {
                            if let Some(off) = memchr(b']', sl(b, pe, plim)) {
                                h.pid = Some(sp(ps, pe));
                                j = pe + off + 1;
                            }
                        }
                    }
                    return j;
                }
            }
        }
        h.format = Format::Generic;
        self.tail(i, h, false)
    }

    /// `host ident user [dd/Mmm/yyyy:hh:mm:ss zone] "request" status size …`
    pub(super) fn access(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let mut i = s;
        let mut host_end = s;
        for k in 0..3 {
            let te = tok_end(b, i);
            if te == i || at(b, te) != b' ' {
                return None;
            }
            if k == 0 {
                host_end = te;
            }
            i = te + 1;
        }
        if at(b, i) != b'[' {
            return None;
        }
        let (c, e) = parse_clf(b, i + 1)?;
        if at(b, e) != b']' {
            return None;
        }
        let ts = resolve(&c, self.o)?;
        h.ts_us = Some(ts);
        h.format = Format::ApacheAccess;
        if sl(b, s, host_end) != b"-" {
            h.host = Some(sp(s, host_end));
        }
        let m = skip_sp(b, e + 1);
        if at(b, m) == b'"' {
            let mut j = m + 1;
            let lim = b.len().min(m + 1 + 16 * 1024);
            while let Some(off) = memchr2(b'"', b'\\', sl(b, j, lim)) {
                let q = j + off;
                if b[q] == b'\\' {
                    j = q + 2;
                    continue;
                }
                if at(b, q + 1) == b' ' {
                    if let Some((code, ce)) = num(b, q + 2, 3, 3) {
                        if matches!(at(b, ce), b' ' | 0) {
                            h.level = Some(match code {
                                500..=599 => Level::Error,
                                400..=499 => Level::Warning,
                                _ => Level::Info,
                            });
                        }
                    }
                }
                break;
            }
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use crate::header::driver::parse_header;
    use crate::header::levels::Level;
    use crate::header::testing::{msg, opts, ts, txt};
    use crate::header::Format;

    #[test]
    fn apache_error_and_access() {
        let l = "[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] Directory index forbidden";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::ApacheError);
        assert_eq!(h.ts_us, Some(ts(2005, 12, 4, 4, 47, 44)));
        assert_eq!(h.level, Some(Level::Error));
        assert_eq!(msg(l, &h), "[client 1.2.3.4] Directory index forbidden");

        let l = "[Wed Oct 11 14:32:52.123456 2000] [core:warn] [pid 1234:tid 5678] AH00111: x";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.ts_us, Some(ts(2000, 10, 11, 14, 32, 52) + 123_456));
        assert_eq!(h.level, Some(Level::Warning));
        assert_eq!(txt(l, h.pid), Some("1234"));
        assert_eq!(msg(l, &h), "AH00111: x");

        for (status, lv) in [
            (200, Level::Info),
            (404, Level::Warning),
            (503, Level::Error),
        ] {
            let l = format!(
                "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a\\\"b HTTP/1.0\" {status} 2326 \"-\" \"curl\""
            );
            let h = parse_header(l.as_bytes(), &opts());
            assert_eq!(h.format, Format::ApacheAccess);
            assert_eq!(h.ts_us, Some(ts(2000, 10, 10, 20, 55, 36)));
            assert_eq!(txt(&l, h.host), Some("127.0.0.1"));
            assert_eq!(h.level, Some(lv));
            assert!(msg(&l, &h).starts_with("\"GET /a"));
        }
    }
}
