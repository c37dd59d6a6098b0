//! Timestamp readers: ISO 8601 / RFC 3339 and the other numeric date-times, BSD syslog,
//! ctime, Common Log Format and epoch values. Each returns the civil time (or UTC µs) and
//! the index where it ends.

use super::bytes::{at, digit_run, frac_us, is_digit, num, sl, tok_end, two_digits};
use super::calendar::Civil;

fn month3(b: &[u8], i: usize) -> Option<u8> {
    let w = sl(b, i, i + 3);
    if w.len() != 3 || at(b, i + 3).is_ascii_alphabetic() {
        return None;
    }
    let k = u32::from_le_bytes([
        w[0].to_ascii_lowercase(),
        w[1].to_ascii_lowercase(),
        w[2].to_ascii_lowercase(),
        0,
    ]);
    const M: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    for (idx, m) in M.iter().enumerate() {
        if k == u32::from_le_bytes([m[0], m[1], m[2], 0]) {
            return Some(idx as u8 + 1);
        }
    }
    None
}

fn weekday3(b: &[u8], i: usize) -> bool {
    let w = sl(b, i, i + 3);
    if w.len() != 3 || at(b, i + 3) != b' ' {
        return false;
    }
    let l = [
        w[0].to_ascii_lowercase(),
        w[1].to_ascii_lowercase(),
        w[2].to_ascii_lowercase(),
    ];
    matches!(
        &l,
        b"mon" | b"tue" | b"wed" | b"thu" | b"fri" | b"sat" | b"sun"
    )
}

// ---------------------------------------------------------------------------
// Timestamp readers. Each returns the civil time and the end index.

/// `H:M:S` or `H.M.S` (1–2 digits each), then `.frac`/`,frac`, or `:ms` after a `:` time.
pub(super) fn parse_time(b: &[u8], i: usize, c: &mut Civil) -> Option<usize> {
    let (h, j) = num(b, i, 1, 2)?;
    let sep = at(b, j);
    if sep != b':' && sep != b'.' {
        return None;
    }
    let (m, j) = num(b, j + 1, 1, 2)?;
    if at(b, j) != sep {
        return None;
    }
    let (s, mut j) = num(b, j + 1, 1, 2)?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    c.hour = h as u8;
    c.min = m as u8;
    c.sec = s as u8;
    let f = at(b, j);
    if (f == b'.' || f == b',') && is_digit(at(b, j + 1)) {
        let (us, e) = frac_us(b, j + 1);
        c.us = us;
        j = e;
    } else if f == b':' && sep == b':' && is_digit(at(b, j + 1)) {
        if let Some((ms, e)) = num(b, j + 1, 1, 3) {
            c.us = ms * 1000;
            j = e;
        }
    }
    Some(j)
}

/// `[+-]hh[[:]mm]` at `i` → (seconds east, end); `full` demands the minutes.
fn parse_offset(b: &[u8], i: usize, full: bool) -> Option<(i32, usize)> {
    let sign: i32 = match at(b, i) {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hh = two_digits(b, i + 1)?;
    let mut e = i + 3;
    let mut mm = 0;
    let colon = at(b, e) == b':';
    let k = if colon { e + 1 } else { e };
    if let Some(m) = two_digits(b, k) {
        mm = m;
        e = k + 2;
    } else if full || colon {
        return None;
    }
    if is_digit(at(b, e)) {
        return None;
    }
    if hh > 23 || mm > 59 || at(b, e).is_ascii_alphanumeric() {
        return None;
    }
    Some((sign * (hh as i32 * 3600 + mm as i32 * 60), e))
}

/// Optional zone right after a time: `Z`, `+hh:mm`, `+hhmm`, `+hh`, or after one
/// space `+hhmm`, `+hh:mm`, `UTC`, `GMT`.
fn parse_zone(b: &[u8], i: usize, c: &mut Civil) -> usize {
    match at(b, i) {
        b'Z' | b'z' if !at(b, i + 1).is_ascii_alphanumeric() => {
            c.offset = Some(0);
            i + 1
        }
        b'+' | b'-' => match parse_offset(b, i, false) {
            Some((off, e)) => {
                c.offset = Some(off);
                e
            }
            None => i,
        },
        b' ' => {
            let j = i + 1;
            if let Some((off, e)) = parse_offset(b, j, true) {
                c.offset = Some(off);
                return e;
            }
            let w = sl(b, j, j + 3);
            if (w == b"UTC" || w == b"GMT") && !at(b, j + 3).is_ascii_alphanumeric() {
                c.offset = Some(0);
                return j + 3;
            }
            i
        }
        _ => i,
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Dt {
    pub(super) c: Civil,
    pub(super) end: usize,
    /// `YYYY-MM-DD[T ]time`.
    pub(super) iso: bool,
    /// ISO with `T` and an explicit zone (RFC 3339).
    pub(super) rfc3339: bool,
}

fn pivot_yy(yy: u32) -> i32 {
    if yy < 69 {
        2000 + yy as i32
    } else {
        1900 + yy as i32
    }
}

/// Numeric date-times (see the module docs for the list).
pub(super) fn parse_numeric_dt(b: &[u8], i: usize) -> Option<Dt> {
    let j = digit_run(b, i);
    let n = j - i.min(j);
    if n == 0 || n > 8 {
        return None;
    }
    let sep = at(b, j);
    let mut c = Civil::default();
    let mut iso = false;
    let mut t_sep = false;
    let k; // where the time starts
    match (n, sep) {
        (4, b'-' | b'/' | b'.') => {
            let (y, _) = num(b, i, 4, 4)?;
            let (mo, e) = num(b, j + 1, 1, 2)?;
            if at(b, e) != sep {
                return None;
            }
            let (d, e) = num(b, e + 1, 1, 2)?;
            let t = at(b, e);
            let ok = matches!(t, b'T' | b't' | b' ' | b'_')
                || (t == b'-' && sep == b'-')
                || (t == b':' && sep == b'/');
            if !ok {
                return None;
            }
            iso = sep == b'-' && matches!(t, b'T' | b't' | b' ');
            t_sep = matches!(t, b'T' | b't');
            c.year = Some(y as i32);
            c.month = mo as u8;
            c.day = d as u8;
            k = e + 1;
        }
        (8, b'-' | b'T' | b't' | b' ' | b'_') => {
            let (v, _) = num(b, i, 8, 8)?;
            c.year = Some((v / 10_000) as i32);
            c.month = (v / 100 % 100) as u8;
            c.day = (v % 100) as u8;
            // Basic-format time: 20171223T221529[.fff][Z]
            if matches!(sep, b'T' | b't') && digit_run(b, j + 1) == j + 7 {
                let (t, e) = num(b, j + 1, 6, 6)?;
                c.hour = (t / 10_000) as u8;
                c.min = (t / 100 % 100) as u8;
                c.sec = (t % 100) as u8;
                let mut e = e;
                if (at(b, e) == b'.' || at(b, e) == b',') && is_digit(at(b, e + 1)) {
                    let (us, e2) = frac_us(b, e + 1);
                    c.us = us;
                    e = e2;
                }
                let e = parse_zone(b, e, &mut c);
                if at(b, e).is_ascii_alphanumeric() || c.hour > 23 || c.min > 59 || c.sec > 60 {
                    return None;
                }
                return Some(Dt {
                    c,
                    end: e,
                    iso: false,
                    rfc3339: false,
                });
            }
            k = j + 1;
        }
        (6, b' ') => {
            // YYMMDD HHMMSS (HDFS)
            let (v, _) = num(b, i, 6, 6)?;
            let (t, e) = num(b, j + 1, 6, 6)?;
            c.year = Some(pivot_yy(v / 10_000));
            c.month = (v / 100 % 100) as u8;
            c.day = (v % 100) as u8;
            c.hour = (t / 10_000) as u8;
            c.min = (t / 100 % 100) as u8;
            c.sec = (t % 100) as u8;
            if c.hour > 23 || c.min > 59 || c.sec > 60 || at(b, e).is_ascii_alphanumeric() {
                return None;
            }
            return Some(Dt {
                c,
                end: e,
                iso: false,
                rfc3339: false,
            });
        }
        (1 | 2, b'/') => {
            let (a, _) = num(b, i, 1, 2)?;
            let (x, e) = num(b, j + 1, 1, 2)?;
            if at(b, e) != b'/' {
                return None;
            }
            let ze = digit_run(b, e + 1);
            let (z, _) = num(b, e + 1, 1, 4)?;
            match ze - (e + 1) {
                4 => {
                    // MM/DD/YYYY
                    c.year = Some(z as i32);
                    c.month = a as u8;
                    c.day = x as u8;
                }
                2 if n == 2 => {
                    // YY/MM/DD
                    c.year = Some(pivot_yy(a));
                    c.month = x as u8;
                    c.day = z as u8;
                }
                _ => return None,
            }
            if !matches!(at(b, ze), b' ' | b':') {
                return None;
            }
            k = ze + 1;
        }
        (2, b'-' | b'.') => {
            let (a, _) = num(b, i, 2, 2)?;
            let (x, e) = num(b, j + 1, 2, 2)?;
            if at(b, e) == b' ' {
                // MM-DD / MM.DD, year-less
                c.month = a as u8;
                c.day = x as u8;
                k = e + 1;
            } else if at(b, e) == sep {
                // DD-MM-YYYY / DD.MM.YYYY
                let (y, e2) = num(b, e + 1, 4, 4)?;
                if at(b, e2) != b' ' {
                    return None;
                }
                c.year = Some(y as i32);
                c.month = x as u8;
                c.day = a as u8;
                k = e2 + 1;
            } else {
                return None;
            }
        }
        _ => return None,
    }
    let e = parse_time(b, k, &mut c)?;
    let e = parse_zone(b, e, &mut c);
    if at(b, e).is_ascii_alphanumeric() {
        return None;
    }
    Some(Dt {
        c,
        end: e,
        iso,
        rfc3339: iso && t_sep && c.offset.is_some(),
    })
}

/// `Mmm dd hh:mm:ss` (day space-padded or not).
fn parse_bsd_core(b: &[u8], i: usize) -> Option<(Civil, usize)> {
    let mo = month3(b, i)?;
    let mut j = i + 3;
    if at(b, j) != b' ' {
        return None;
    }
    while at(b, j) == b' ' && j < i + 6 {
        j += 1;
    }
    let (d, e) = num(b, j, 1, 2)?;
    if at(b, e) != b' ' {
        return None;
    }
    let mut c = Civil {
        month: mo,
        day: d as u8,
        ..Civil::default()
    };
    let e = parse_time(b, e + 1, &mut c)?;
    Some((c, e))
}

/// BSD syslog timestamp, optionally followed by a 4-digit year.
pub(super) fn parse_bsd(b: &[u8], i: usize) -> Option<(Civil, usize)> {
    let (mut c, mut e) = parse_bsd_core(b, i)?;
    if at(b, e) == b' ' {
        if let Some((y, e2)) = num(b, e + 1, 4, 4) {
            if (1970..=2100).contains(&y) && matches!(at(b, e2), b' ' | 0) {
                c.year = Some(y as i32);
                e = e2;
            }
        }
    }
    if at(b, e).is_ascii_alphanumeric() {
        return None;
    }
    Some((c, e))
}

/// `Www Mmm dd hh:mm:ss[.frac] [TZ ]yyyy`.
pub(super) fn parse_ctime(b: &[u8], i: usize) -> Option<(Civil, usize)> {
    if !weekday3(b, i) {
        return None;
    }
    let (mut c, mut e) = parse_bsd_core(b, i + 4)?;
    if at(b, e) != b' ' {
        return None;
    }
    e += 1;
    if at(b, e).is_ascii_alphabetic() {
        let te = tok_end(b, e);
        if te - e > 5 || at(b, te) != b' ' {
            return None;
        }
        if matches!(sl(b, e, te), b"UTC" | b"GMT" | b"Z") {
            c.offset = Some(0);
        }
        e = te + 1;
    }
    let (y, e) = num(b, e, 4, 4)?;
    if at(b, e).is_ascii_alphanumeric() {
        return None;
    }
    c.year = Some(y as i32);
    Some((c, e))
}

/// Common Log Format: `dd/Mmm/yyyy:hh:mm:ss -0700`.
pub(super) fn parse_clf(b: &[u8], i: usize) -> Option<(Civil, usize)> {
    let (d, e) = num(b, i, 1, 2)?;
    if at(b, e) != b'/' {
        return None;
    }
    let mo = month3(b, e + 1)?;
    if at(b, e + 4) != b'/' {
        return None;
    }
    let (y, e) = num(b, e + 5, 4, 4)?;
    if at(b, e) != b':' {
        return None;
    }
    let mut c = Civil {
        year: Some(y as i32),
        month: mo,
        day: d as u8,
        ..Civil::default()
    };
    let e = parse_time(b, e + 1, &mut c)?;
    let e = parse_zone(b, e, &mut c);
    Some((c, e))
}

/// Epoch seconds (10 digits, optional fraction), ms (13) or µs (16) → UTC µs.
pub(super) fn parse_epoch(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let e = digit_run(b, i);
    let n = e - i.min(e);
    if !matches!(n, 10 | 13 | 16) || at(b, i) == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &d in sl(b, i, e) {
        v = v * 10 + (d - b'0') as i64;
    }
    let (mut us, mut end) = match n {
        10 => (v * 1_000_000, e),
        13 => (v * 1_000, e),
        _ => (v, e),
    };
    // Plausible range: 2001-09-09 .. 2100-01-01.
    if !(1_000_000_000_000_000..=4_102_444_800_000_000).contains(&us) {
        return None;
    }
    if n == 10 && (at(b, e) == b'.' || at(b, e) == b',') && is_digit(at(b, e + 1)) {
        let (f, e2) = frac_us(b, e + 1);
        us += f as i64;
        end = e2;
    }
    if at(b, end).is_ascii_alphanumeric() || matches!(at(b, end), b'-' | b'/' | b':' | b'.') {
        return None;
    }
    Some((us, end))
}
