//! Helpers of the header tests: a fixed reference time and span readers.

use crate::header::calendar::days_from_civil;
use crate::header::Header;
use crate::header::ParseOptions;
use crate::header::Span;

pub(super) const JAN_2025: i64 = 1_736_942_400_000_000; // 2025-01-15T12:00:00Z

pub(super) fn opts() -> ParseOptions {
    ParseOptions::new(JAN_2025)
}

pub(super) fn ts(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000
}

pub(super) fn txt(line: &str, s: Option<Span>) -> Option<&str> {
    s.map(|s| &line[s.0 as usize..s.1 as usize])
}

pub(super) fn msg(line: &str, h: &Header) -> String {
    line[h.message.0 as usize..h.message.1 as usize].to_string()
}
