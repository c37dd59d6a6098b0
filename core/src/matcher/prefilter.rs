//! A many-literal prefilter that scans at memory-ish speed: hashed 4-byte grams.
//!
//! An Aho-Corasick DFA over a few hundred literals walks a state table too
//! large for L1 and stops at every partial match; on log text that runs at
//! about 200 MB/s. Most bytes of a log, though, start no literal at all. So,
//! in the spirit of Hyperscan's FDR, each literal is represented by one
//! *gram*: the 4-byte window of it that is least likely in log text
//! ([`gram_rank`]). The scan reads every 4-byte window of the haystack,
//! folds ASCII case, hashes it and tests one bit of a small bitmap (32 KiB,
//! L1-resident). Only on a set bit does it look the gram up exactly
//! ([`GramTable`]) and compare the whole literal around it, ASCII case
//! folded. The bitmap gives false positives, never false negatives: a literal
//! occurrence always contains its gram, and folding is applied identically to
//! both sides.
//!
//! Hits are reported in increasing order of the gram's position (not the
//! literal's start), which lets the caller map hits to lines with a
//! monotonic walk.

/// Literals shorter than a gram cannot be represented by one.
pub const GRAM_LEN: usize = 4;
const BITMAP_BITS: u32 = 18;
const HASH_MUL: u32 = 0x9E37_79B1;

#[inline(always)]
fn fold(w: u32) -> u32 {
    // Sets bit 5 of every byte: ASCII letters fold to lowercase. Other bytes
    // may collide (e.g. '[' and '{'); that only adds false positives, which
    // the exact comparison removes.
    w | 0x2020_2020
}

#[inline(always)]
fn bit_of(folded: u32) -> u32 {
    folded.wrapping_mul(HASH_MUL) >> (32 - BITMAP_BITS)
}

#[inline(always)]
fn read_u32(hay: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([hay[i], hay[i + 1], hay[i + 2], hay[i + 3]])
}

/// How common a byte is in log text; lower is rarer. A coarse table: the
/// choice of gram only needs to avoid the obviously frequent ones.
fn byte_commonness(b: u8) -> u32 {
    match b.to_ascii_lowercase() {
        b' ' => 40,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 24,
        b'h' | b'l' | b'd' | b'c' | b'u' | b'm' => 16,
        b'0'..=b'9' => 22,
        b'.' | b':' | b'-' | b'/' | b'=' | b'_' | b',' => 18,
        b'f' | b'p' | b'g' | b'w' | b'y' | b'b' => 10,
        b'v' | b'k' => 6,
        b'[' | b']' | b'(' | b')' | b'"' | b'\'' => 8,
        b'x' | b'j' | b'q' | b'z' => 3,
        _ => 5,
    }
}

/// Letter runs that recur inside many words of log text ("network",
/// "block", "error", "connection"); a gram made of one of them would be hit
/// all the time without its literal.
const COMMON_GRAMS: [&[u8; 4]; 47] = [
    b"tion", b"work", b"lock", b"erro", b"rror", b"from", b"time", b"ting", b"ing ", b"ceiv",
    b"fail", b"aile", b"iled", b"conn", b"onne", b"nect", b"ecti", b"ion ", b"the ", b"for ",
    b"and ", b"with", b"info", b"xcep", b"cept", b"serv", b"erve", b"rver", b"requ", b"eque",
    b"sion", b"ssio", b"user", b"stat", b"tate", b"file", b"ment", b"node", b"read", b"proc",
    b"cess", b"star", b"tart", b"port", b"ound", b"inte", b"ent ",
];

/// Lower is better: the gram least likely to occur by accident. Bytes are
/// weighted by their frequency in log text; a gram of letters only (most
/// likely inside a common word) and the known-common runs are penalised.
pub fn gram_rank(gram: &[u8]) -> u32 {
    let bytes: u32 = gram.iter().map(|&b| byte_commonness(b)).sum();
    let lower: Vec<u8> = gram.to_ascii_lowercase();
    let letters_only = gram.iter().all(|b| b.is_ascii_alphabetic());
    let common = COMMON_GRAMS.iter().any(|c| c[..] == lower[..]);
    bytes + if letters_only { 25 } else { 0 } + if common { 200 } else { 0 }
}

/// The offset of the best gram inside `literal` (which is at least
/// [`GRAM_LEN`] long).
pub fn best_gram_offset(literal: &[u8]) -> usize {
    (0..=literal.len() - GRAM_LEN)
        .min_by_key(|&k| (gram_rank(&literal[k..k + GRAM_LEN]), k))
        .unwrap_or(0)
}

/// Exact lookup from a folded gram to the literals that chose it.
#[derive(Debug, Clone)]
struct GramTable {
    /// Open addressing: (folded gram, first entry, entry count); count 0 = empty.
    slots: Vec<(u32, u32, u32)>,
    mask: usize,
    /// (literal index, gram offset inside the literal), grouped by gram.
    entries: Vec<(u32, u32)>,
}

impl GramTable {
    fn build(mut items: Vec<(u32, u32, u32)>) -> GramTable {
        // items: (folded gram, literal, offset)
        items.sort_unstable();
        let distinct = {
            let mut g: Vec<u32> = items.iter().map(|x| x.0).collect();
            g.dedup();
            g.len()
        };
        let size = (distinct * 4).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0u32, 0u32); size];
        let mask = size - 1;
        let mut entries = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            let g = items[i].0;
            let first = entries.len() as u32;
            while i < items.len() && items[i].0 == g {
                entries.push((items[i].1, items[i].2));
                i += 1;
            }
            let count = entries.len() as u32 - first;
            let mut s = Self::slot_of(g, mask);
            while slots[s].2 != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = (g, first, count);
        }
        GramTable {
            slots,
            mask,
            entries,
        }
    }

    #[inline(always)]
    fn slot_of(g: u32, mask: usize) -> usize {
        (g.wrapping_mul(0x85EB_CA6B).rotate_right(15) as usize) & mask
    }

    #[inline]
    fn get(&self, g: u32) -> &[(u32, u32)] {
        let mut s = Self::slot_of(g, self.mask);
        loop {
            let (key, first, count) = self.slots[s];
            if count == 0 {
                return &[];
            }
            if key == g {
                return &self.entries[first as usize..(first + count) as usize];
            }
            s = (s + 1) & self.mask;
        }
    }
}

/// Finds every occurrence (ASCII case-insensitive) of a set of literals, each
/// at least [`GRAM_LEN`] bytes long.
#[derive(Debug, Clone)]
pub struct GramFilter {
    bitmap: Vec<u64>,
    table: GramTable,
    /// The literals, ASCII-lowercased.
    literals: Vec<Vec<u8>>,
}

impl GramFilter {
    /// `literals` must each be at least [`GRAM_LEN`] bytes.
    pub fn new(literals: &[Vec<u8>]) -> GramFilter {
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        let mut items = Vec::with_capacity(literals.len());
        let lowered: Vec<Vec<u8>> = literals.iter().map(|l| l.to_ascii_lowercase()).collect();
        for (li, lit) in lowered.iter().enumerate() {
            assert!(lit.len() >= GRAM_LEN, "literal shorter than a gram");
            let off = best_gram_offset(lit);
            let g = fold(read_u32(lit, off));
            let b = bit_of(g);
            bitmap[(b >> 6) as usize] |= 1 << (b & 63);
            items.push((g, li as u32, off as u32));
        }
        GramFilter {
            bitmap,
            table: GramTable::build(items),
            literals: lowered,
        }
    }

    /// Each literal with the gram chosen for it (for diagnostics).
    pub fn grams(&self) -> Vec<(&[u8], &[u8])> {
        self.literals
            .iter()
            .map(|l| {
                let o = best_gram_offset(l);
                (&l[..], &l[o..o + GRAM_LEN])
            })
            .collect()
    }

    pub fn literal_len(&self, literal: usize) -> usize {
        self.literals[literal].len()
    }

    /// Call `hit(gram_pos, literal, start)` for every occurrence of every
    /// literal in `hay`, in increasing `gram_pos` order.
    pub fn for_each_hit(&self, hay: &[u8], mut hit: impl FnMut(usize, usize, usize)) {
        let mut hits = Vec::new();
        self.find_all(hay, &mut hits);
        for h in hits {
            hit(h.pos as usize, h.literal as usize, h.start as usize);
        }
    }

    /// Append every occurrence of every literal in `hay` to `hits`, in
    /// increasing `pos` order.
    #[inline(never)]
    pub fn find_all(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        if hay.len() < GRAM_LEN {
            return;
        }
        let bitmap = &self.bitmap[..];
        debug_assert_eq!(bitmap.len(), 1 << (BITMAP_BITS - 6));
        let test = |g: u32| -> bool {
            let b = bit_of(g);
            // SAFETY: `b < 2^BITMAP_BITS`, so `b >> 6` is below the bitmap's length.
            unsafe { *bitmap.get_unchecked((b >> 6) as usize) & (1u64 << (b & 63)) != 0 }
        };
        let ptr = hay.as_ptr();
        let mut i = 0usize;
        // Eight bytes hold the four windows starting at i..i+4; one load per
        // four windows, one branch per four tests.
        while i + 8 <= hay.len() {
            // SAFETY: i + 8 <= hay.len().
            let x = unsafe { ptr.add(i).cast::<u64>().read_unaligned() }.to_le();
            let g0 = fold(x as u32);
            let g1 = fold((x >> 8) as u32);
            let g2 = fold((x >> 16) as u32);
            let g3 = fold((x >> 24) as u32);
            let (t0, t1, t2, t3) = (test(g0), test(g1), test(g2), test(g3));
            if t0 | t1 | t2 | t3 {
                if t0 {
                    self.verify(hay, i, g0, hits);
                }
                if t1 {
                    self.verify(hay, i + 1, g1, hits);
                }
                if t2 {
                    self.verify(hay, i + 2, g2, hits);
                }
                if t3 {
                    self.verify(hay, i + 3, g3, hits);
                }
            }
            i += 4;
        }
        while i + GRAM_LEN <= hay.len() {
            let g = fold(read_u32(hay, i));
            if test(g) {
                self.verify(hay, i, g, hits);
            }
            i += 1;
        }
    }

    #[inline(never)]
    fn verify(&self, hay: &[u8], pos: usize, g: u32, hits: &mut Vec<Hit>) {
        for &(li, off) in self.table.get(g) {
            let lit = &self.literals[li as usize];
            let Some(start) = pos.checked_sub(off as usize) else {
                continue;
            };
            let end = start + lit.len();
            if end <= hay.len() && hay[start..end].eq_ignore_ascii_case(lit) {
                hits.push(Hit {
                    pos: pos as u32,
                    literal: li,
                    start: start as u32,
                });
            }
        }
    }
}

/// One occurrence of a literal: where its gram was seen, which literal, and
/// where the literal starts. Positions are relative to the scanned slice,
/// which the callers keep below 4 GiB per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub pos: u32,
    pub literal: u32,
    pub start: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(hay: &[u8], lits: &[Vec<u8>]) -> Vec<(usize, usize)> {
        let h = hay.to_ascii_lowercase();
        let mut out = Vec::new();
        for (li, l) in lits.iter().enumerate() {
            let l = l.to_ascii_lowercase();
            if l.len() > h.len() {
                continue;
            }
            for s in 0..=h.len() - l.len() {
                if h[s..s + l.len()] == l[..] {
                    out.push((li, s));
                }
            }
        }
        out.sort();
        out
    }

    fn found(f: &GramFilter, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut last_pos = 0;
        f.for_each_hit(hay, |pos, li, s| {
            assert!(pos >= last_pos, "hits out of order");
            last_pos = pos;
            out.push((li, s));
        });
        out.sort();
        out
    }

    #[test]
    fn finds_every_occurrence_case_insensitively() {
        let lits: Vec<Vec<u8>> = ["Failed password", "fail", "password for", "ERROR", "rror"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let f = GramFilter::new(&lits);
        let hay = b"x FAILED Password for root; error: an error\nFailed passwordFailed password";
        assert_eq!(found(&f, hay), naive(hay, &lits));
    }

    #[test]
    fn short_and_edge_haystacks() {
        let lits = vec![b"abcd".to_vec()];
        let f = GramFilter::new(&lits);
        assert!(found(&f, b"").is_empty());
        assert!(found(&f, b"abc").is_empty());
        assert_eq!(found(&f, b"abcd"), vec![(0, 0)]);
        assert_eq!(found(&f, b"xabcd"), vec![(0, 1)]);
        assert_eq!(found(&f, b"ABCDabcd"), vec![(0, 0), (0, 4)]);
    }

    #[test]
    fn agrees_with_naive_search_on_pseudo_random_text() {
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"abcdeABCDE [](){}@`_\x7f\x00\xff";
        for _ in 0..200 {
            let lits: Vec<Vec<u8>> = (0..1 + next() % 6)
                .map(|_| {
                    (0..4 + next() % 4)
                        .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let hay: Vec<u8> = (0..next() % 300)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let f = GramFilter::new(&lits);
            assert_eq!(found(&f, &hay), naive(&hay, &lits), "lits {lits:?}");
        }
    }

    #[test]
    fn gram_choice_prefers_rare_bytes() {
        let lit = b"the Kernel panic";
        let off = best_gram_offset(lit);
        assert!(gram_rank(&lit[off..off + 4]) <= gram_rank(b"the "));
    }
}
