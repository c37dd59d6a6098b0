//! Layouts of the loghub datasets that open with something other than a date: label +
//! epoch (BGL, Thunderbird), HPC, ctime lines and glog.

use super::bytes::{all_digits, at, digit_run, num, skip_sp, sl, sp, tok_end};
use super::calendar::{resolve, Civil};
use super::driver::Parser;
use super::levels::Level;
use super::timestamps::{parse_bsd, parse_ctime, parse_epoch, parse_numeric_dt, parse_time};
use super::{Format, Header};

impl Parser<'_> {
    pub(super) fn label_epoch(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let t0e = tok_end(b, s);
        if t0e == s || t0e - s > 32 || at(b, t0e) != b' ' {
            return None;
        }
        if !sl(b, s, t0e)
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            return None;
        }
        let (us, e1) = parse_epoch(b, t0e + 1)?;
        if at(b, e1) != b' ' {
            return None;
        }
        // YYYY.MM.DD
        let d = e1 + 1;
        let (_, e) = num(b, d, 4, 4)?;
        let (_, e) = if at(b, e) == b'.' {
            num(b, e + 1, 2, 2)?
        } else {
            return None;
        };
        let (_, e) = if at(b, e) == b'.' {
            num(b, e + 1, 2, 2)?
        } else {
            return None;
        };
        if at(b, e) != b' ' {
            return None;
        }
        let t3 = e + 1;
        let t3e = tok_end(b, t3);
        if t3e == t3 {
            return None;
        }
        h.ts_us = Some(us);
        h.format = Format::Epoch;
        let node = sl(b, t3, t3e);
        if node != b"NULL" && node != b"-" {
            h.host = Some(sp(t3, t3e));
        }
        let i = skip_sp(b, t3e);
        // BGL: full time, node again, type, component, level.
        if let Some(dt) = parse_numeric_dt(b, i) {
            if at(b, dt.end) == b' ' {
                let r = dt.end + 1;
                let re = tok_end(b, r);
                let ty = skip_sp(b, re);
                let tye = tok_end(b, ty);
                let co = skip_sp(b, tye);
                let coe = tok_end(b, co);
                let lv = skip_sp(b, coe);
                let lve = tok_end(b, lv);
                if let Some(level) = Level::from_word(sl(b, lv, lve)).filter(|_| lve - lv > 1) {
                    h.app = Some(sp(co, coe));
                    h.level = Some(level);
                    return Some(lve);
                }
                return Some(re);
            }
        }
        // Thunderbird: a syslog line follows; the node stays the host.
        if let Some((_, e)) = parse_bsd(b, i) {
            let host = h.host;
            let m = self.host_tag(e, h);
            h.host = host;
            h.level = self.peek_level(m);
            return Some(m);
        }
        Some(i)
    }

    /// `logid node component state EPOCH flag msg` (HPC).
    pub(super) fn hpc(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let t0e = tok_end(b, s);
        if !all_digits(sl(b, s, t0e)) || t0e - s > 12 || at(b, t0e) != b' ' {
            return None;
        }
        let mut starts = [0usize; 3];
        let mut i = t0e + 1;
        for st in starts.iter_mut() {
            let te = tok_end(b, i);
            if te == i || at(b, te) != b' ' {
                return None;
            }
            *st = i;
            i = te + 1;
        }
        let (us, e) = parse_epoch(b, i)?;
        if at(b, e) != b' ' || e - i != 10 {
            return None;
        }
        let f = e + 1;
        let fd = if at(b, f) == b'-' { f + 1 } else { f };
        let fe = digit_run(b, fd);
        if fe == fd || fe - fd > 4 || !matches!(at(b, fe), b' ' | 0) {
            return None;
        }
        h.ts_us = Some(us);
        h.format = Format::Epoch;
        h.host = Some(sp(starts[0], tok_end(b, starts[0])));
        h.app = Some(sp(starts[1], tok_end(b, starts[1])));
        Some(fe)
    }

    pub(super) fn ctime(&self, s: usize, h: &mut Header) -> Option<usize> {
        let (c, e) = parse_ctime(self.b, s)?;
        h.ts_us = Some(resolve(&c, self.o)?);
        h.format = Format::Generic;
        Some(self.tail(e, h, false))
    }

    /// glog: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`.
    pub(super) fn glog(&self, s: usize, h: &mut Header) -> Option<usize> {
        let b = self.b;
        let lv = match b[s] {
            b'I' => Level::Info,
            b'W' => Level::Warning,
            b'E' => Level::Error,
            b'F' => Level::Critical,
            _ => return None,
        };
        let (md, e) = num(b, s + 1, 4, 4)?;
        if at(b, e) != b' ' {
            return None;
        }
        let mut c = Civil {
            month: (md / 100) as u8,
            day: (md % 100) as u8,
            ..Civil::default()
        };
        let e = parse_time(b, e + 1, &mut c)?;
        let ts = resolve(&c, self.o)?;
        h.ts_us = Some(ts);
        h.level = Some(lv);
        h.format = Format::Generic;
        let i = skip_sp(b, e);
        let pe = digit_run(b, i);
        if pe > i {
            h.pid = Some(sp(i, pe));
        }
        let j = skip_sp(b, pe);
        let te = tok_end(b, j);
        if te > j && at(b, te - 1) == b']' {
            return Some(te);
        }
        Some(j)
    }
}

#[cfg(test)]
mod tests {
    use crate::header::driver::parse_header;
    use crate::header::levels::Level;
    use crate::header::testing::{msg, opts, ts, txt};
    use crate::header::Format;

    #[test]
    fn loghub_shapes() {
        let o = opts();
        let l = "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezing";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2024, 3, 17, 16, 13, 38) + 811_000));
        assert_eq!(
            (txt(l, h.pid), h.level, txt(l, h.app)),
            (Some("1702"), Some(Level::Debug), Some("WindowManager"))
        );
        assert_eq!(msg(l, &h), "printFreezing");

        let l = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2008, 11, 9, 20, 36, 15)));
        assert_eq!(txt(l, h.app), Some("dfs.DataNode$PacketResponder"));
        assert_eq!(msg(l, &h), "PacketResponder 1");

        let l = "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.format, Format::Epoch);
        assert_eq!(h.ts_us, Some(1_077_804_742_000_000));
        assert_eq!(
            (txt(l, h.host), txt(l, h.app)),
            (Some("node-246"), Some("unix.hw"))
        );
        assert_eq!(msg(l, &h), "Component State");

        let l = "20171224-0:28:0:83|Step_LSC|30002312|processHandleBroadcastAction action";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2017, 12, 24, 0, 28, 0) + 83_000));
        assert_eq!(
            (txt(l, h.app), txt(l, h.pid)),
            (Some("Step_LSC"), Some("30002312"))
        );
        assert_eq!(msg(l, &h), "processHandleBroadcastAction action");

        let l = "[10.30 16:49:06] chrome.exe *64 - proxy.cse.cuhk.edu.hk:5070 open";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2024, 10, 30, 16, 49, 6)));
        assert_eq!(txt(l, h.app), Some("chrome.exe *64"));
        assert_eq!(msg(l, &h), "proxy.cse.cuhk.edu.hk:5070 open");

        let l = "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(ts(2017, 6, 9, 20, 10, 40)));
        assert_eq!(msg(l, &h), "Registered");

        let l = "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(1_117_838_570_000_000));
        assert_eq!(txt(l, h.host), Some("R02-M1-N0-C:J12-U11"));
        assert_eq!(
            (txt(l, h.app), h.level),
            (Some("KERNEL"), Some(Level::Info))
        );
        assert_eq!(msg(l, &h), "instruction cache parity error corrected");

        let l = "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed";
        let h = parse_header(l.as_bytes(), &o);
        assert_eq!(h.ts_us, Some(1_131_566_461_000_000));
        assert_eq!(txt(l, h.host), Some("dn228"));
        assert_eq!(txt(l, h.app), Some("crond(pam_unix)"));
        assert_eq!(txt(l, h.pid), Some("2915"));
        assert_eq!(msg(l, &h), "session closed");
    }

    #[test]
    fn epoch_glog_and_unparsed() {
        let h = parse_header(b"1117838570.25 INFO ready", &opts());
        assert_eq!(h.format, Format::Epoch);
        assert_eq!(h.ts_us, Some(1_117_838_570_250_000));
        assert_eq!(h.level, Some(Level::Info));
        let h = parse_header(b"1117838570123 x", &opts());
        assert_eq!(h.ts_us, Some(1_117_838_570_123_000));

        let l = "E0115 10:11:12.000123  4242 server.cc:55] oops";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.ts_us, Some(ts(2025, 1, 15, 10, 11, 12) + 123));
        assert_eq!(h.level, Some(Level::Error));
        assert_eq!(txt(l, h.pid), Some("4242"));
        assert_eq!(msg(l, &h), "oops");

        let l = "ERROR: disk full";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!((h.ts_us, h.level), (None, Some(Level::Error)));
        assert_eq!(msg(l, &h), "disk full");

        let l = "  just some text\r\n";
        let h = parse_header(l.as_bytes(), &opts());
        assert_eq!(h.format, Format::Unparsed);
        assert_eq!(msg(l, &h), "just some text");

        let h = parse_header(b"", &opts());
        assert_eq!(h.message, (0, 0));
        let h = parse_header(b" \r\n", &opts());
        assert_eq!(h.message, (0, 0));
    }
}
