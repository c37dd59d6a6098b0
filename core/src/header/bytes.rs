//! Byte helpers of the header parser. Every index may be out of range: `at` returns 0
//! there, and slices are clamped, so no reader can panic on short or odd input.

use super::Span;

#[inline]
pub(super) fn at(b: &[u8], i: usize) -> u8 {
    if i < b.len() {
        b[i]
    } else {
        0
    }
}

#[inline]
pub(super) fn sl(b: &[u8], a: usize, e: usize) -> &[u8] {
    b.get(a..e).unwrap_or(&[])
}

#[inline]
pub(super) fn sp(a: usize, e: usize) -> Span {
    (a as u32, e as u32)
}

#[inline]
pub(super) fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

#[inline]
pub(super) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

#[inline]
pub(super) fn skip_sp(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i.min(b.len())
}

pub(super) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i.min(b.len())
}

/// Longest token the parser looks at; longer ones are never header fields.
const MAX_TOKEN: usize = 1024;

/// End of the token (run of non-blank bytes) starting at `i`.
#[inline]
pub(super) fn tok_end(b: &[u8], i: usize) -> usize {
    let i = i.min(b.len());
    let lim = b.len().min(i + MAX_TOKEN);
    let mut j = i;
    while j < lim && b[j] != b' ' && b[j] != b'\t' {
        j += 1;
    }
    j
}

pub(super) fn digit_run(b: &[u8], i: usize) -> usize {
    let i = i.min(b.len());
    let lim = b.len().min(i + 32);
    let mut j = i;
    while j < lim && is_digit(b[j]) {
        j += 1;
    }
    j
}

pub(super) fn all_digits(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|c| is_digit(*c))
}

/// Reads `min..=max` (max ≤ 9) digits at `i`; fails if the run is longer.
#[inline]
pub(super) fn num(b: &[u8], i: usize, min: usize, max: usize) -> Option<(u32, usize)> {
    let mut j = i;
    let mut v: u32 = 0;
    while j < b.len() && is_digit(b[j]) {
        if j - i >= max {
            return None;
        }
        v = v * 10 + (b[j] - b'0') as u32;
        j += 1;
    }
    if j - i < min {
        return None;
    }
    Some((v, j))
}

/// Exactly two digits at `i` (whatever follows).
#[inline]
pub(super) fn two_digits(b: &[u8], i: usize) -> Option<u32> {
    let (x, y) = (at(b, i), at(b, i + 1));
    if is_digit(x) && is_digit(y) {
        Some(((x - b'0') * 10 + (y - b'0')) as u32)
    } else {
        None
    }
}

/// Fraction digits at `i` → (µs, end). Digits beyond the sixth are read and ignored.
pub(super) fn frac_us(b: &[u8], i: usize) -> (u32, usize) {
    let e = digit_run(b, i);
    let mut us = 0u32;
    for k in 0..6 {
        us *= 10;
        if i + k < e {
            us += (b[i + k] - b'0') as u32;
        }
    }
    (us, e)
}
