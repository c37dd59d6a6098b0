//! Syslog headers: RFC 5424, RFC 3164 with and without PRI, and the `host tag[pid]:`
//! that follows a syslog timestamp.

use super::bytes::{all_digits, at, digit_run, num, skip_sp, sl, sp, tok_end};
use super::calendar::resolve;
use super::driver::Parser;
use super::generic::trim_back;
use super::levels::{level_word, strip_level_punct, Level};
use super::timestamps::{parse_bsd, parse_numeric_dt};
use super::{Format, Header};
use memchr::memchr;

impl Parser<'_> {
    pub(super) fn syslog(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let (pri, e) = num(b, s + 1, 1, 3)?;
        if at(b, e) != b'>' || pri > 191 {
            return None;
        }
        h.level = Some(Level::from_severity((pri % 8) as u8));
        let i = e + 1;
        if at(b, i) == b'1' && at(b, i + 1) == b' ' {
            h.format = Format::Rfc5424;
            return Some(self.rfc5424(i + 2, h));
        }
        h.format = Format::Rfc3164;
        let i = skip_sp(b, i);
        if let Some((c, e)) = parse_bsd(b, i) {
            h.ts_us = resolve(&c, self.o);
            return Some(self.host_tag(e, h));
        }
        if let Some(dt) = parse_numeric_dt(b, i) {
            h.ts_us = resolve(&dt.c, self.o);
            return Some(self.host_tag(dt.end, h));
        }
        Some(self.tag(i, h))
    }

    pub(super) fn rfc5424(&self, mut i: usize, h: &mut Header) -> usize {
        let b = self.b;
        let n = b.len();
        let nil = |a: usize, e: usize| e == a + 1 && at(b, a) == b'-';
        // TIMESTAMP
        let te = tok_end(b, i);
        if !nil(i, te) {
            if let Some(dt) = parse_numeric_dt(b, i) {
                if dt.end == te {
                    h.ts_us = resolve(&dt.c, self.o);
                }
            }
        }
        i = if at(b, te) == b' ' { te + 1 } else { te };
        // HOSTNAME APP-NAME PROCID MSGID
        for k in 0..4 {
            if i >= n {
                return n;
            }
            let te = tok_end(b, i);
            if te > i && !nil(i, te) {
                match k {
                    0 => h.host = Some(sp(i, te)),
                    1 => h.app = Some(sp(i, te)),
                    2 => h.pid = Some(sp(i, te)),
                    _ => {}
                }
            }
            i = if at(b, te) == b' ' { te + 1 } else { te };
        }
        // STRUCTURED-DATA
        match at(b, i) {
            b'-' => i += 1,
            b'[' => loop {
                let mut j = i + 1;
                let mut quoted = false;
                while j < n {
                    let c = b[j];
                    if quoted {
                        if c == b'\\' {
                            j += 2;
                            continue;
                        }
                        if c == b'"' {
                            quoted = false;
                        }
                    } else if c == b'"' {
                        quoted = true;
                    } else if c == b']' {
                        break;
                    }
                    j += 1;
                }
                if j >= n {
                    return n;
                }
                i = j + 1;
                if at(b, i) != b'[' {
                    break;
                }
            },
            _ => {}
        }
        // MSG
        if at(b, i) == b' ' {
            i += 1;
        }
        if sl(b, i, i + 3) == b"\xEF\xBB\xBF" {
            i += 3;
        }
        i.min(n)
    }

    /// `host tag[pid]: msg` after a syslog timestamp (the host may be missing).
    pub(super) fn host_tag(&self, i: usize, h: &mut Header) -> usize {
        let b = self.b;
        let i = skip_sp(b, i);
        let te = tok_end(b, i);
        if te == i {
            return i;
        }
        let tok = sl(b, i, te);
        let tagish = tok.ends_with(b":")
            || (memchr(b'[', tok).is_some() && (tok.ends_with(b"]") || tok.ends_with(b"]:")));
        if self.marked_level(tok).is_some() {
            // `Oct 11 22:14:15 ERROR disk gone`: no host, no tag; the message opens with
            // its level (read by the caller), which must not become a host or an app.
            return i;
        }
        if tagish {
            return self.tag(i, h);
        }
        h.host = Some(sp(i, te));
        self.tag(te, h)
    }

    /// The syslog TAG: `app[pid]: `, `app[pid] (detail): `, `app: `; up to two
    /// blanks inside the app (`Microsoft Word[14463]:`). Returns the message start.
    pub(super) fn tag(&self, i: usize, h: &mut Header) -> usize {
        let b = self.b;
        let n = b.len();
        let i = skip_sp(b, i);
        let lim = n.min(i + 128);
        let mut spaces = 0;
        let mut j = i;
        while j < lim {
            match b[j] {
                b'[' => {
                    let de = digit_run(b, j + 1);
                    if de > j + 1 && de - (j + 1) <= 10 && at(b, de) == b']' {
                        let app_end = trim_back(b, i, j);
                        if app_end == i {
                            return i;
                        }
                        let mut k = de + 1;
                        if at(b, k) == b' ' && at(b, k + 1) == b'(' {
                            let plim = n.min(k + 256);
                            if let Some(off) = memchr(b')', sl(b, k + 1, plim)) {
                                let cl = k + 1 + off;
                                if at(b, cl + 1) == b':' {
                                    k = cl + 1;
                                }
                            }
                        }
                        if at(b, k) == b':' {
                            k += 1;
                        } else if k < n && at(b, k) != b' ' {
                            return i;
                        }
                        h.app = Some(sp(i, app_end));
                        h.pid = Some(sp(j + 1, de));
                        return k;
                    }
                }
                b':' if j + 1 >= n || matches!(b[j + 1], b' ' | b'\t') => {
                    let app_end = trim_back(b, i, j);
                    if app_end == i {
                        return i;
                    }
                    h.app = Some(sp(i, app_end));
                    return j + 1;
                }
                b' ' | b'\t' => {
                    spaces += 1;
                    if spaces > 2 {
                        return i;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        i
    }

    /// After an RFC 3339 timestamp: `host tag[pid]: msg` only when the tag is
    /// unmistakable (a single token ending in `:`).
    pub(super) fn host_tag_strict(&self, i: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let i = skip_sp(b, i);
        let he = tok_end(b, i);
        let host = sl(b, i, he);
        if host.is_empty()
            || all_digits(host)
            || level_word(strip_level_punct(host)).is_some()
            || !host
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
        {
            return None;
        }
        if at(b, he) != b' ' {
            return None;
        }
        let t = he + 1;
        let te = tok_end(b, t);
        let tag = sl(b, t, te);
        if tag.len() < 2 || !tag.ends_with(b":") || level_word(&tag[..tag.len() - 1]).is_some() {
            return None;
        }
        h.host = Some(sp(i, he));
        h.format = Format::Rfc3164;
        let m = self.tag(t, h);
        // rsyslog's file format (RFC 3339 time, no PRI): the level opens the message.
        if h.level.is_none() {
            h.level = self.peek_level(m);
        }
        Some(m)
    }

    pub(super) fn bsd(&self, s: usize, h: &mut Header) -> Option<usize> {
        let (c, e) = parse_bsd(self.b, s)?;
        let ts = resolve(&c, self.o)?;
        h.ts_us = Some(ts);
        h.format = Format::Rfc3164;
        let m = self.host_tag(e, h);
        h.level = self.peek_level(m);
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
    fn rfc5424_full() {
        let l = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Appl]ication\"] \u{feff}An application event";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Rfc5424);
        assert_eq!(h.ts_us, Some(ts(2003, 10, 11, 22, 14, 15) + 3_000));
        assert_eq!(txt(l, h.host), Some("mymachine.example.com"));
        assert_eq!(txt(l, h.app), Some("evntslog"));
        assert_eq!(h.pid, None);
        assert_eq!(h.level, Some(Level::Notice));
        assert_eq!(msg(l, &h), "An application event");
    }

    #[test]
    fn rfc5424_nil_and_offset() {
        let l = "<34>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.ts_us, Some(ts(2003, 8, 24, 12, 14, 15) + 3));
        assert_eq!(txt(l, h.pid), Some("8710"));
        assert_eq!(h.level, Some(Level::Critical));
        assert_eq!(msg(l, &h), "%% It's time");
        let l = "<14>1 - - - - - -";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Rfc5424);
        assert_eq!((h.ts_us, h.host, h.app, h.pid), (None, None, None, None));
        assert_eq!(msg(l, &h), "");
        let l = "<14>1 2003-08-24T05:14:15Z h a p m [x@1 a=\"b\\\"]\"][y@2] msg";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(msg(l, &h), "msg");
    }

    #[test]
    fn rfc3164_with_pri_and_without() {
        let l = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Rfc3164);
        assert_eq!(h.ts_us, Some(ts(2024, 10, 11, 22, 14, 15)));
        assert_eq!(txt(l, h.host), Some("mymachine"));
        assert_eq!(txt(l, h.app), Some("su"));
        assert_eq!(h.level, Some(Level::Critical));
        assert_eq!(msg(l, &h), "'su root' failed for lonvick on /dev/pts/8");

        let l = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0\r\n";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Rfc3164);
        assert_eq!(txt(l, h.host), Some("combo"));
        assert_eq!(txt(l, h.app), Some("sshd(pam_unix)"));
        assert_eq!(txt(l, h.pid), Some("19939"));
        assert_eq!(h.level, None);
        assert_eq!(msg(l, &h), "authentication failure; logname= uid=0");

        let l = "Jul  1 09:29:02 calvisitor-10-105-160-95 sandboxd[129] ([31211]): com.apple.Addres(31211) deny";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(txt(l, h.app), Some("sandboxd"));
        assert_eq!(txt(l, h.pid), Some("129"));
        assert_eq!(msg(l, &h), "com.apple.Addres(31211) deny");

        // host-less tag after PRI
        let l = "<13>Feb  5 17:32:18 sshd[42]: hello";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.host, None);
        assert_eq!(txt(l, h.app), Some("sshd"));
        assert_eq!(msg(l, &h), "hello");

        // untagged message
        let l = "Jun 14 15:16:01 combo last message repeated 2 times";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.app, None);
        assert_eq!(msg(l, &h), "last message repeated 2 times");
    }

    #[test]
    fn rsyslog_rfc3339_file_format() {
        let l = "2024-03-01T10:00:00.123456+01:00 web01 nginx[812]: started";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.ts_us, Some(ts(2024, 3, 1, 9, 0, 0) + 123_456));
        assert_eq!(txt(l, h.host), Some("web01"));
        assert_eq!(txt(l, h.app), Some("nginx"));
        assert_eq!(txt(l, h.pid), Some("812"));
        assert_eq!(msg(l, &h), "started");
    }
}
