//! Civil dates (Howard Hinnant's algorithms, proleptic Gregorian calendar) and the
//! resolution of a broken-down local time to UTC µs: the zone and the year-less rule
//! (module docs of `header`).

use super::ParseOptions;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` 1..=12, `d` 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = (m as i64 + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

const DAY_US: i64 = 86_400_000_000;

/// A broken-down local date-time as read from the line.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Civil {
    pub(super) year: Option<i32>,
    pub(super) month: u8,
    pub(super) day: u8,
    pub(super) hour: u8,
    pub(super) min: u8,
    pub(super) sec: u8,
    pub(super) us: u32,
    /// Zone of the timestamp, seconds east of UTC, when the line says it.
    pub(super) offset: Option<i32>,
}

/// UTC µs of a civil time; applies the zone and the year-less rule.
pub(super) fn resolve(c: &Civil, o: &ParseOptions) -> Option<i64> {
    if !(1..=12).contains(&c.month) || c.day == 0 || c.hour > 23 || c.min > 59 || c.sec > 60 {
        return None;
    }
    let off = c.offset.unwrap_or(o.utc_offset_secs) as i64;
    let tod = c.hour as i64 * 3600 + c.min as i64 * 60 + c.sec as i64 - off;
    let at = |y: i64| -> Option<i64> {
        if c.day > days_in_month(y, c.month) {
            return None;
        }
        let secs = days_from_civil(y, c.month as u32, c.day as u32)
            .checked_mul(86_400)?
            .checked_add(tod)?;
        secs.checked_mul(1_000_000)?.checked_add(c.us as i64)
    };
    match c.year {
        Some(y) => at(y as i64),
        None => {
            let limit = o.reference_ts_us.saturating_add(DAY_US);
            let (ry, _, _) = civil_from_days(o.reference_ts_us.div_euclid(DAY_US));
            // Eight years back always reaches a leap year (1896 → 1904).
            for y in (ry - 8..=ry).rev() {
                if let Some(t) = at(y) {
                    if t <= limit {
                        return Some(t);
                    }
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, days_from_civil};
    use crate::header::driver::parse_header;
    use crate::header::testing::{opts, ts, JAN_2025};
    use crate::header::ParseOptions;

    #[test]
    fn civil_roundtrip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for z in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn yearless_rule() {
        // A December line read in January belongs to the previous year.
        let h = parse_header(b"Dec 31 23:59:59 h a: m", &opts());
        assert_eq!(h.ts_us, Some(ts(2024, 12, 31, 23, 59, 59)));
        // Up to one day ahead stays in the reference year.
        let h = parse_header(b"Jan 16 11:00:00 h a: m", &opts());
        assert_eq!(h.ts_us, Some(ts(2025, 1, 16, 11, 0, 0)));
        // More than one day ahead → previous year.
        let h = parse_header(b"Jan 16 12:00:01 h a: m", &opts());
        assert_eq!(h.ts_us, Some(ts(2024, 1, 16, 12, 0, 1)));
        // Feb 29 → the latest leap year not more than a day ahead.
        let h = parse_header(b"Feb 29 08:00:00 h a: m", &opts());
        assert_eq!(h.ts_us, Some(ts(2024, 2, 29, 8, 0, 0)));
        let r = ParseOptions::new(ts(2024, 2, 27, 0, 0, 0));
        let h = parse_header(b"Feb 29 08:00:00 h a: m", &r);
        assert_eq!(h.ts_us, Some(ts(2020, 2, 29, 8, 0, 0)));
        let r = ParseOptions::new(ts(2024, 2, 28, 12, 0, 0));
        let h = parse_header(b"Feb 29 08:00:00 h a: m", &r);
        assert_eq!(h.ts_us, Some(ts(2024, 2, 29, 8, 0, 0)));
        // Invalid dates are no timestamp.
        let h = parse_header(b"Feb 30 08:00:00 h a: m", &opts());
        assert_eq!(h.ts_us, None);
    }

    #[test]
    fn utc_offset_applies_to_zoneless_only() {
        let o = ParseOptions {
            reference_ts_us: JAN_2025,
            utc_offset_secs: 3600,
        };
        let h = parse_header(b"2015-10-18 18:01:47,978 INFO x", &o);
        assert_eq!(h.ts_us, Some(ts(2015, 10, 18, 17, 1, 47) + 978_000));
        let h = parse_header(b"2015-10-18T18:01:47Z INFO x", &o);
        assert_eq!(h.ts_us, Some(ts(2015, 10, 18, 18, 1, 47)));
        let h = parse_header(b"1117838570 hello", &o);
        assert_eq!(h.ts_us, Some(1_117_838_570_000_000));
    }
}
