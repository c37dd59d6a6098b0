//! The driver: trims the line, tries the layouts in the order the module docs list them,
//! and falls back to a level word or the unparsed line.

use super::bytes::{is_digit, is_ws, skip_ws, sl, sp};
use super::calendar::resolve;
use super::logfmt::logfmt_level;
use super::timestamps::Dt;
use super::{Format, Header, ParseOptions};

/// Parse the header of one log line. Never panics; see the module docs.
pub fn parse_header(line: &[u8], opts: &ParseOptions) -> Header {
    let line = &line[..line.len().min(u32::MAX as usize)];
    let mut end = line.len();
    while end > 0 && is_ws(line[end - 1]) {
        end -= 1;
    }
    let b = &line[..end];
    let mut s = 0;
    if b.starts_with(b"\xEF\xBB\xBF") {
        s = 3;
    }
    s = skip_ws(b, s);
    let mut h = Header {
        message: sp(s, end),
        ..Header::default()
    };
    if s < end {
        let p = Parser { b, o: opts };
        let m = p.parse(s, &mut h);
        let m = skip_ws(b, m.min(end));
        h.message = sp(m, end);
        if h.level.is_none() {
            h.level = logfmt_level(sl(b, m, end.min(m + 256)));
        }
    }
    h
}

pub(super) struct Parser<'a> {
    pub(super) b: &'a [u8],
    pub(super) o: &'a ParseOptions,
}

impl Parser<'_> {
    /// Fills `h` and returns where the message starts.
    pub(super) fn parse(&self, s: usize, h: &mut Header) -> usize {
        let b = self.b;
        let c = b[s];
        if c == b'<' {
            if let Some(m) = self.syslog(s, h) {
                return m;
            }
        }
        if c == b'[' {
            if let Some(m) = self.bracketed(s, h) {
                return m;
            }
        }
        if let Some(m) = self.label_epoch(s, h) {
            return m;
        }
        if is_digit(c) {
            if let Some(m) = self.numeric(s, h) {
                return m;
            }
            if let Some(m) = self.time_only(s, h) {
                return m;
            }
        }
        if c.is_ascii_alphabetic() {
            if let Some(m) = self.logfmt(s, h) {
                return m;
            }
            if let Some(m) = self.bsd(s, h) {
                return m;
            }
            if let Some(m) = self.ctime(s, h) {
                return m;
            }
            if let Some(m) = self.glog(s, h) {
                return m;
            }
        }
        if let Some(m) = self.access(s, h) {
            return m;
        }
        if let Some(m) = self.scan(s, h) {
            return m;
        }
        self.unparsed(s, h)
    }

    pub(super) fn set_dt(&self, dt: &Dt, h: &mut Header) -> bool {
        match resolve(&dt.c, self.o) {
            Some(ts) => {
                h.ts_us = Some(ts);
                h.format = if dt.iso {
                    Format::Iso8601
                } else {
                    Format::Generic
                };
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_header;
    use crate::header::testing::opts;
    use crate::header::{Header, ParseOptions};

    fn check_spans(line: &[u8], h: &Header) {
        let n = line.len() as u32;
        for s in [h.host, h.app, h.pid, Some(h.message)]
            .into_iter()
            .flatten()
        {
            assert!(s.0 <= s.1 && s.1 <= n, "bad span {s:?} for {line:?}");
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: [&[u8]; 12] = [
            b"<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a@1 b=\"c\"] msg",
            b"<34>Oct 11 22:14:15 mymachine su[12] (x): 'su root' failed",
            b"[Sun Dec 04 04:47:44 2005] [error] [pid 12] x",
            b"- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO m",
            b"2015-07-29 17:41:44,747 - INFO  [Q[myid=1]/0:2181:F@774] - m",
            b"20171223-22:15:29:606|Step_LSC|30002312|m",
            b"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
            b"134681 node-246 unix.hw state 1077804742 -1 m",
            b"03-17 16:13:38.811  1702  2395 D Tag: m",
            b"[10.30 16:49:06] chrome.exe *64 - m",
            b"E0517 12:34:56.123456  1234 f.cc:12] m",
            b"081109 203615 148 INFO dfs.X: m",
        ];
        let alphabet = b"<>[]():|-,. 0123456789TZ+-/@#\"\\aAbJnFeMrSu\t\r\n\xff\xef\xbb\xbf";
        let o = opts();
        for round in 0..200_000u32 {
            let mut buf: Vec<u8> = Vec::new();
            match round % 3 {
                0 => {
                    let len = (next() % 96) as usize;
                    for _ in 0..len {
                        buf.push(next() as u8);
                    }
                }
                1 => {
                    let len = (next() % 96) as usize;
                    for _ in 0..len {
                        buf.push(alphabet[(next() % alphabet.len() as u64) as usize]);
                    }
                }
                _ => {
                    let seed = seeds[(next() % seeds.len() as u64) as usize];
                    buf.extend_from_slice(seed);
                    let cut = (next() as usize) % (buf.len() + 1);
                    buf.truncate(cut);
                    for _ in 0..(next() % 4) {
                        if buf.is_empty() {
                            break;
                        }
                        let p = (next() as usize) % buf.len();
                        buf[p] = alphabet[(next() % alphabet.len() as u64) as usize];
                    }
                }
            }
            let h = parse_header(&buf, &o);
            check_spans(&buf, &h);
        }
        // Extreme references and offsets.
        for r in [i64::MIN, i64::MAX, 0, -1] {
            for off in [i32::MIN, i32::MAX, 0] {
                let o = ParseOptions {
                    reference_ts_us: r,
                    utc_offset_secs: off,
                };
                for s in seeds {
                    check_spans(s, &parse_header(s, &o));
                }
                check_spans(
                    b"Feb 29 00:00:00 h a: m",
                    &parse_header(b"Feb 29 00:00:00 h a: m", &o),
                );
            }
        }
    }

    #[test]
    fn huge_lines() {
        let o = opts();
        for fill in [b'a', b'1', b'[', b' ', b'<', b'|', b'"', b':'] {
            let mut v = vec![fill; 4 << 20];
            check_spans(&v, &parse_header(&v, &o));
            v[..24].copy_from_slice(b"2015-10-18 18:01:47,978 ");
            let h = parse_header(&v, &o);
            check_spans(&v, &h);
            assert!(h.ts_us.is_some());
        }
    }
}
