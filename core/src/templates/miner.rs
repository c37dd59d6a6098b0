//! The miner (steps 2 to 4 of the module docs of `templates`): the whole-line cache, the
//! prefix tree, matching inside a leaf, and the saved state that lets mining go on with the
//! same ids.

use super::tokenizer::{token_flags, tokenize, Line, F_KEY, F_WILD, F_WORD};
use super::{MinerSettings, TemplateInfo, WILDCARD};
use crate::hash::hash_bytes;
use crate::hash::FxMap;
use serde::Deserialize;
use serde::Serialize;
use std::borrow::Cow;

/// A variable found by the masker (`<*>` in the line itself): matches only `<*>`.
const WILD: u32 = 0;
/// A position generalised by merging different tokens: matches any token.
const GEN: u32 = 1;
/// Internal spelling of GEN in the token table (no token can contain a space).
const GEN_STR: &str = " <*>";
const UNKNOWN: u32 = u32::MAX;
/// Leaves of the prefix tree searched for one line.
const MAX_LEAVES: usize = 8;

/// Token table: every token that appears in a template, by id. Lines are looked up here
/// without inserting, so the table grows with templates, not lines.
#[derive(Default)]
struct Interner {
    map: FxMap<Box<[u8]>, u32>,
    toks: Vec<Box<[u8]>>,
    flags: Vec<u8>,
    keys: Vec<String>,
}

impl Interner {
    fn new(keys: Vec<String>) -> Self {
        let mut i = Interner {
            keys,
            ..Interner::default()
        };
        i.intern(WILDCARD.as_bytes());
        i.intern(GEN_STR.as_bytes());
        i
    }
    fn get(&self, t: &[u8]) -> u32 {
        self.map.get(t).copied().unwrap_or(UNKNOWN)
    }
    fn intern(&mut self, t: &[u8]) -> u32 {
        if let Some(&id) = self.map.get(t) {
            return id;
        }
        let id = self.toks.len() as u32;
        self.toks.push(t.into());
        self.flags.push(token_flags(t, &self.keys));
        self.map.insert(t.into(), id);
        id
    }
    fn bytes(&self, id: u32) -> &[u8] {
        &self.toks[id as usize]
    }
    fn display(&self, id: u32) -> Cow<'_, str> {
        if id == GEN {
            Cow::Borrowed(WILDCARD)
        } else {
            String::from_utf8_lossy(self.bytes(id))
        }
    }
}

/// A token in a saved state: text, or its bytes when they are not UTF-8.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TokenRepr {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Default, Clone)]
struct Node {
    children: FxMap<u32, u32>,
    clusters: Vec<u32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Cluster {
    tokens: Vec<u32>,
    count: u64,
    /// Positions (below 64) holding a word that a different word may not replace: a quick
    /// test that rejects most templates of a crowded leaf. Derived from `tokens`.
    #[serde(skip)]
    word_mask: u64,
}

/// A streaming log-template miner. See the module docs for how it works.
///
/// ```
/// # use opsengine_core::templates::{MinerSettings, TemplateMiner};
/// let mut miner = TemplateMiner::new(MinerSettings::default());
/// let (a, _) = miner.mine(b"Accepted password for alice from 10.0.0.1 port 52311 ssh2");
/// let (b, _) = miner.mine(b"Accepted password for bob from 10.0.0.7 port 40022 ssh2");
/// assert_eq!(a, b);
/// assert_eq!(
///     miner.templates()[a as usize].text,
///     "Accepted password for <*> from <*> port <*> ssh<*>"
/// );
/// ```
pub struct TemplateMiner {
    settings: MinerSettings,
    interner: Interner,
    nodes: Vec<Node>,
    roots: FxMap<u32, u32>,
    clusters: Vec<Cluster>,
    lines: u64,
    cache: FxMap<u128, u32>,
    line: Line,
    leaves: Vec<u32>,
    overflow: Option<u32>,
    /// Per-instance seed of the line hash, so crafted lines cannot aim at collisions.
    seed: u64,
}

fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x6f70_7365_6e67_696e_u64)
}

impl TemplateMiner {
    pub fn new(settings: MinerSettings) -> Self {
        let keys = settings.variable_keys.clone();
        TemplateMiner {
            settings,
            interner: Interner::new(keys),
            nodes: Vec::new(),
            roots: FxMap::default(),
            clusters: Vec::new(),
            lines: 0,
            cache: FxMap::default(),
            line: Line::default(),
            leaves: Vec::new(),
            overflow: None,
            seed: random_seed(),
        }
    }

    pub fn settings(&self) -> &MinerSettings {
        &self.settings
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Lines mined so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Rough heap size of the miner's state in bytes (templates, tokens, tree, cache).
    pub fn memory_bytes(&self) -> usize {
        let tokens: usize = self.interner.toks.iter().map(|t| t.len() * 2 + 48).sum();
        let clusters: usize = self
            .clusters
            .iter()
            .map(|c| c.tokens.capacity() * 4 + std::mem::size_of::<Cluster>())
            .sum();
        let nodes: usize = self
            .nodes
            .iter()
            .map(|n| n.children.capacity() * 9 + n.clusters.capacity() * 4 + 80)
            .sum();
        tokens + clusters + nodes + self.cache.capacity() * 21
    }

    /// The text of one template (`None` for an unknown id).
    pub fn template_text(&self, id: u32) -> Option<String> {
        let c = self.clusters.get(id as usize)?;
        Some(self.render(&c.tokens))
    }

    fn render(&self, tokens: &[u32]) -> String {
        let mut s = String::new();
        for (i, &t) in tokens.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&self.interner.display(t));
        }
        s
    }

    /// All templates, by id.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.clusters
            .iter()
            .enumerate()
            .map(|(i, c)| TemplateInfo {
                id: i as u32,
                text: self.render(&c.tokens),
                count: c.count,
            })
            .collect()
    }

    /// Mine one line; returns (template id, is_new) where is_new is true when the line
    /// created a new template after warm-up. Any bytes are accepted; a trailing newline is
    /// whitespace like any other.
    pub fn mine(&mut self, line: &[u8]) -> (u32, bool) {
        self.lines += 1;
        let line = &line[..line.len().min(self.settings.max_line_bytes)];
        let mut buf = std::mem::take(&mut self.line);
        // Tokens split at ASCII whitespace; bytes that are not UTF-8 stay as they are (shown
        // lossily in template texts).
        tokenize(
            line,
            self.settings.mask_variables,
            self.settings.max_tokens.max(1),
            &mut buf,
        );
        let result = self.mine_tokens(&mut buf);
        self.line = buf;
        result
    }

    fn matches_exactly(&self, cid: u32, line: &Line) -> bool {
        let Some(c) = self.clusters.get(cid as usize) else {
            return false;
        };
        c.tokens.len() == line.len()
            && c.tokens
                .iter()
                .enumerate()
                .all(|(i, &t)| t == GEN || self.interner.bytes(t) == line.tok(i))
    }

    fn mine_tokens(&mut self, line: &mut Line) -> (u32, bool) {
        // Tokens are joined by single spaces, so the text alone identifies the token sequence.
        let key = hash_bytes(&line.text, self.seed);
        if let Some(&cid) = self.cache.get(&key) {
            let c = &mut self.clusters[cid as usize];
            if c.tokens.len() == line.len() || self.overflow == Some(cid) {
                c.count += 1;
                debug_assert!(self.overflow == Some(cid) || self.matches_exactly(cid, line));
                return (cid, false);
            }
        }
        line.ids.clear();
        line.flags.clear();
        for i in 0..line.len() {
            let id = self.interner.get(line.tok(i));
            line.ids.push(id);
            line.flags.push(match id {
                UNKNOWN => token_flags(line.tok(i), &self.interner.keys),
                _ => self.interner.flags[id as usize],
            });
        }
        line.word_mask = 0;
        for (i, &f) in line.flags.iter().enumerate().take(64) {
            if f & F_WORD != 0 {
                line.word_mask |= 1 << i;
            }
        }
        let (cid, is_new) = self.match_or_create(line);
        self.clusters[cid as usize].count += 1;
        if self.cache.len() >= self.settings.cache_capacity.max(1) {
            self.cache.clear();
        }
        self.cache.insert(key, cid);
        (cid, is_new && self.lines > self.settings.warmup_lines)
    }

    /// Can position `i` route the line in the prefix tree? Only where a different token would
    /// forbid a merge anyway: a word that does not follow a variable-introducing key.
    fn routable(&self, _id: u32, line: &Line, i: usize) -> bool {
        line.flags[i] & (F_WORD | F_WILD) == F_WORD && (i == 0 || line.flags[i - 1] & F_KEY == 0)
    }

    /// The leaves of the prefix tree that may hold the line's template: the path of its own
    /// tokens first, then the paths through wildcard children (a token's child may have been
    /// added after the line's template was placed under the wildcard). At most MAX_LEAVES.
    fn tree_leaves(&self, line: &Line, leaves: &mut Vec<u32>) {
        leaves.clear();
        let Some(&root) = self.roots.get(&(line.len() as u32)) else {
            return;
        };
        let levels = self.settings.depth.saturating_sub(2).min(line.len());
        let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
        while let Some((node, level)) = stack.pop() {
            if level == levels {
                leaves.push(node);
                if leaves.len() >= MAX_LEAVES {
                    return;
                }
                continue;
            }
            let n = &self.nodes[node as usize];
            let id = line.ids[level];
            // Pushed in reverse order of preference.
            if let Some(&w) = n.children.get(&WILD) {
                stack.push((w, level + 1));
            }
            if id != UNKNOWN && id != WILD {
                if let Some(&c) = n.children.get(&id) {
                    stack.push((c, level + 1));
                }
            }
        }
    }

    /// Similarity of a line to a template. With `early`, gives up (None) as soon as the
    /// template can no longer take the line.
    fn similarity(&self, cid: u32, line: &Line, early: bool) -> Option<Sim> {
        let c = &self.clusters[cid as usize];
        let n = c.tokens.len();
        let mut r = Sim::default();
        if n == 0 {
            r.score = 1.0;
            return Some(r);
        }
        if early && self.settings.split_words {
            // Two different words at a position: the template cannot take the line.
            let mut both = c.word_mask & line.word_mask;
            while both != 0 {
                let i = both.trailing_zeros() as usize;
                if c.tokens[i] != line.ids[i] {
                    return None;
                }
                both &= both - 1;
            }
        }
        let need = self.settings.sim_threshold * n as f64;
        let protect = self.settings.protect_after;
        let mut same = 0usize;
        for (i, &t) in c.tokens.iter().enumerate() {
            if t == GEN || (t == WILD && line.flags[i] & F_WILD != 0 && line.ids[i] != WILD) {
                r.params += 1;
            } else if t == line.ids[i] {
                same += 1;
            } else {
                r.mismatches += 1;
                let after_key = i > 0 && self.interner.flags[c.tokens[i - 1] as usize] & F_KEY != 0;
                if self.interner.flags[t as usize] & line.flags[i] & F_WORD != 0 && !after_key {
                    r.word_mismatches += 1;
                }
                if early
                    && ((r.word_mismatches > 0 && self.settings.split_words)
                        || c.count >= protect / r.mismatches as u64
                        || ((same + n - i - 1) as f64) < need)
                {
                    return None;
                }
            }
        }
        r.score = same as f64 / n as f64;
        Some(r)
    }

    fn joinable(&self, cid: u32, sim: &Sim) -> bool {
        if sim.mismatches == 0 {
            return true;
        }
        if sim.score < self.settings.sim_threshold {
            return false;
        }
        if sim.word_mismatches > 0 && self.settings.split_words {
            return false;
        }
        let c = &self.clusters[cid as usize];
        c.count < self.settings.protect_after / sim.mismatches as u64
    }

    /// The template that takes the line among those in `leaves`: the oldest that covers it
    /// as it is, else the most similar (ties: more wildcards). With `joinable_only`, only
    /// templates allowed to take it.
    fn best_in_leaves(&self, leaves: &[u32], line: &Line, joinable_only: bool) -> Option<u32> {
        let mut best: Option<(u32, f64, usize)> = None;
        let mut covering: Option<u32> = None;
        for &leaf in leaves {
            for &cid in &self.nodes[leaf as usize].clusters {
                if covering.is_some_and(|c| c < cid) {
                    continue;
                }
                let Some(sim) = self.similarity(cid, line, joinable_only) else {
                    continue;
                };
                if joinable_only && !self.joinable(cid, &sim) {
                    continue;
                }
                if sim.mismatches == 0 {
                    covering = Some(covering.map_or(cid, |c| c.min(cid)));
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((_, bs, bp)) => sim.score > bs || (sim.score == bs && sim.params > bp),
                };
                if better {
                    best = Some((cid, sim.score, sim.params));
                }
            }
        }
        covering.or(best.map(|b| b.0))
    }

    fn match_or_create(&mut self, line: &Line) -> (u32, bool) {
        let mut leaves = std::mem::take(&mut self.leaves);
        self.tree_leaves(line, &mut leaves);
        let result = self.match_or_create_in(line, &leaves);
        self.leaves = leaves;
        result
    }

    fn match_or_create_in(&mut self, line: &Line, leaves: &[u32]) -> (u32, bool) {
        if let Some(cid) = self.best_in_leaves(leaves, line, true) {
            self.generalize(cid, line);
            return (cid, false);
        }
        if self.clusters.len() < self.settings.max_templates.max(1) {
            return (self.create(line), true);
        }
        // Full: the closest template takes the line.
        if let Some(cid) = self.best_in_leaves(leaves, line, false) {
            self.generalize(cid, line);
            return (cid, false);
        }
        (self.overflow_cluster(), false)
    }

    fn generalize(&mut self, cid: u32, line: &Line) {
        let c = &mut self.clusters[cid as usize];
        let mut changed = false;
        for (i, t) in c.tokens.iter_mut().enumerate() {
            if *t != GEN && *t != line.ids[i] {
                *t = GEN;
                changed = true;
            }
        }
        if changed {
            let mask = self.word_mask(&self.clusters[cid as usize].tokens);
            self.clusters[cid as usize].word_mask = mask;
        }
    }

    /// See `Cluster::word_mask`.
    fn word_mask(&self, tokens: &[u32]) -> u64 {
        let flags = &self.interner.flags;
        let mut mask = 0u64;
        for (i, &t) in tokens.iter().enumerate().take(64) {
            let after_key = i > 0 && flags[tokens[i - 1] as usize] & F_KEY != 0;
            if flags[t as usize] & F_WORD != 0 && !after_key {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The catch-all template `<*>` for lines that no template may take once `max_templates`
    /// is reached and that have no template of their length and prefix at all.
    fn overflow_cluster(&mut self) -> u32 {
        if let Some(o) = self.overflow {
            return o;
        }
        let id = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            tokens: vec![GEN],
            count: 0,
            word_mask: 0,
        });
        self.overflow = Some(id);
        id
    }

    fn create(&mut self, line: &Line) -> u32 {
        let tokens: Vec<u32> = (0..line.len())
            .map(|i| self.interner.intern(line.tok(i)))
            .collect();
        let cid = self.clusters.len() as u32;
        let word_mask = self.word_mask(&tokens);
        self.clusters.push(Cluster {
            tokens,
            count: 0,
            word_mask,
        });
        self.add_to_tree(cid, line);
        cid
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    fn add_to_tree(&mut self, cid: u32, line: &Line) {
        let n = line.len() as u32;
        let mut node = match self.roots.get(&n) {
            Some(&r) => r,
            None => {
                let r = self.new_node();
                self.roots.insert(n, r);
                r
            }
        };
        let levels = self.settings.depth.saturating_sub(2).min(line.len());
        let max_children = self.settings.max_children.max(1);
        for i in 0..levels {
            let tok = self.clusters[cid as usize].tokens[i];
            if let Some(&next) = self.nodes[node as usize].children.get(&tok) {
                node = next;
                continue;
            }
            let routable = self.routable(tok, line, i);
            let n_children = self.nodes[node as usize].children.len();
            let has_wild = self.nodes[node as usize].children.contains_key(&WILD);
            let key = if !routable {
                WILD
            } else if has_wild {
                if n_children < max_children {
                    tok
                } else {
                    WILD
                }
            } else if n_children + 1 < max_children {
                tok
            } else {
                WILD
            };
            node = match self.nodes[node as usize].children.get(&key) {
                Some(&next) => next,
                None => {
                    let next = self.new_node();
                    self.nodes[node as usize].children.insert(key, next);
                    next
                }
            };
        }
        self.nodes[node as usize].clusters.push(cid);
    }

    // ------------------------------------------------------------ persistence

    /// The whole state (settings, token table, tree, templates, counters) as JSON.
    pub fn save(&self) -> Vec<u8> {
        let snap = Snapshot {
            version: 1,
            settings: self.settings.clone(),
            tokens: self
                .interner
                .toks
                .iter()
                .map(|t| match std::str::from_utf8(t) {
                    Ok(s) => TokenRepr::Text(s.to_string()),
                    Err(_) => TokenRepr::Bytes(t.to_vec()),
                })
                .collect(),
            roots: {
                let mut r: Vec<(u32, u32)> = self.roots.iter().map(|(&k, &v)| (k, v)).collect();
                r.sort_unstable();
                r
            },
            nodes: self
                .nodes
                .iter()
                .map(|n| {
                    let mut children: Vec<(u32, u32)> =
                        n.children.iter().map(|(&k, &v)| (k, v)).collect();
                    children.sort_unstable();
                    NodeSnap {
                        children,
                        clusters: n.clusters.clone(),
                    }
                })
                .collect(),
            clusters: self.clusters.clone(),
            lines: self.lines,
            overflow: self.overflow,
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// A miner from [`TemplateMiner::save`] output; a malformed state is an error, never a
    /// panic. Mining goes on with the same ids.
    pub fn load(bytes: &[u8]) -> Result<Self, String> {
        let snap: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| format!("template miner state: {e}"))?;
        if snap.version != 1 {
            return Err(format!(
                "template miner state: unsupported version {}",
                snap.version
            ));
        }
        let token_bytes = |t: &TokenRepr| -> Vec<u8> {
            match t {
                TokenRepr::Text(s) => s.as_bytes().to_vec(),
                TokenRepr::Bytes(b) => b.clone(),
            }
        };
        if snap.tokens.len() < 2
            || token_bytes(&snap.tokens[0]) != WILDCARD.as_bytes()
            || token_bytes(&snap.tokens[1]) != GEN_STR.as_bytes()
        {
            return Err("template miner state: token table must start with the wildcards".into());
        }
        let n_tokens = snap.tokens.len() as u64;
        let n_nodes = snap.nodes.len() as u64;
        let n_clusters = snap.clusters.len() as u64;
        let bad = |what: &str| Err(format!("template miner state: {what} out of range"));
        let mut interner = Interner {
            keys: snap.settings.variable_keys.clone(),
            ..Interner::default()
        };
        for t in &snap.tokens {
            let b = token_bytes(t);
            if interner.map.contains_key(b.as_slice()) {
                return Err("template miner state: duplicate token".into());
            }
            interner.intern(&b);
        }
        for c in &snap.clusters {
            if c.tokens.iter().any(|&t| t as u64 >= n_tokens) {
                return bad("token id");
            }
        }
        let mut roots = FxMap::default();
        for &(k, v) in &snap.roots {
            if v as u64 >= n_nodes {
                return bad("node id");
            }
            roots.insert(k, v);
        }
        let mut nodes = Vec::with_capacity(snap.nodes.len());
        for n in snap.nodes {
            let mut children = FxMap::default();
            for (k, v) in n.children {
                if v as u64 >= n_nodes || k as u64 >= n_tokens {
                    return bad("node child");
                }
                children.insert(k, v);
            }
            for &c in &n.clusters {
                if c as u64 >= n_clusters {
                    return bad("template id");
                }
            }
            nodes.push(Node {
                children,
                clusters: n.clusters,
            });
        }
        // Leaves must hold templates of the right length, or similarity would index past the end.
        for (&len, &root) in &roots {
            let mut stack = vec![root];
            let mut seen = 0usize;
            while let Some(nid) = stack.pop() {
                seen += 1;
                if seen > nodes.len() {
                    return Err("template miner state: tree has a cycle".into());
                }
                let node: &Node = &nodes[nid as usize];
                for &c in &node.clusters {
                    if snap.clusters[c as usize].tokens.len() != len as usize {
                        return Err("template miner state: template in the wrong leaf".into());
                    }
                }
                stack.extend(node.children.values().copied());
            }
        }
        if let Some(o) = snap.overflow {
            if o as u64 >= n_clusters {
                return bad("overflow id");
            }
        }
        let mut miner = TemplateMiner {
            settings: snap.settings,
            interner,
            nodes,
            roots,
            clusters: snap.clusters,
            lines: snap.lines,
            cache: FxMap::default(),
            line: Line::default(),
            leaves: Vec::new(),
            overflow: snap.overflow,
            seed: random_seed(),
        };
        for i in 0..miner.clusters.len() {
            let mask = miner.word_mask(&miner.clusters[i].tokens);
            miner.clusters[i].word_mask = mask;
        }
        Ok(miner)
    }
}

#[derive(Default)]
struct Sim {
    score: f64,
    params: usize,
    mismatches: usize,
    word_mismatches: usize,
}

#[derive(Serialize, Deserialize)]
struct NodeSnap {
    children: Vec<(u32, u32)>,
    clusters: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    settings: MinerSettings,
    tokens: Vec<TokenRepr>,
    roots: Vec<(u32, u32)>,
    nodes: Vec<NodeSnap>,
    clusters: Vec<Cluster>,
    lines: u64,
    overflow: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::TemplateMiner;
    use crate::templates::MinerSettings;

    fn miner() -> TemplateMiner {
        TemplateMiner::new(MinerSettings::default())
    }

    fn ids(m: &mut TemplateMiner, lines: &[&str]) -> Vec<u32> {
        lines.iter().map(|l| m.mine(l.as_bytes()).0).collect()
    }

    /// A small deterministic random source (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn same_shape_same_id_and_generalisation_keeps_ids() {
        let mut m = miner();
        let v = ids(
            &mut m,
            &[
                "Failed password for root from 10.0.0.1 port 22 ssh2",
                "Failed password for admin from 10.0.0.2 port 2222 ssh2",
                "session opened for user root by (uid=0)",
                "session closed for user root",
                "session opened for user news by (uid=0)",
                "Failed password for root from 10.0.0.9 port 1 ssh2",
            ],
        );
        assert_eq!(v[0], v[1]);
        assert_eq!(v[0], v[5]);
        assert_eq!(v[2], v[4]);
        assert_ne!(v[2], v[3]);
        assert_ne!(v[0], v[2]);
        assert_eq!(
            m.template_text(v[0]).unwrap(),
            "Failed password for <*> from <*> port <*> ssh<*>"
        );
        assert_eq!(
            m.template_text(v[2]).unwrap(),
            "session opened for user <*> by (uid=<*>)"
        );
        let t = m.templates();
        assert_eq!(t.len(), m.len());
        assert_eq!(t[v[0] as usize].count, 3);
        assert_eq!(t.iter().map(|t| t.count).sum::<u64>(), 6);
    }

    #[test]
    fn different_words_are_different_events() {
        let mut m = miner();
        let v = ids(
            &mut m,
            &[
                "VM Started (Lifecycle Event)",
                "VM Paused (Lifecycle Event)",
                "VM Started (Lifecycle Event)",
                "Location icon should now be in state 'Active'",
                "Location icon should now be in state 'Inactive'",
            ],
        );
        assert_ne!(v[0], v[1]);
        assert_eq!(v[0], v[2]);
        assert_ne!(v[3], v[4]);
    }

    #[test]
    fn old_constants_are_protected_young_ones_generalise() {
        let mut m = miner();
        // A young template takes a differing name...
        let a = m.mine(b"job alice@corp finished").0;
        let b = m.mine(b"job bob@corp finished").0;
        assert_eq!(a, b);
        assert_eq!(m.template_text(a).unwrap(), "job <*> finished");
        // ...one that held the same value for many lines does not.
        for _ in 0..100 {
            m.mine(b"client agent@host ready");
        }
        let c = m.mine(b"client agent@host ready").0;
        let d = m.mine(b"client spp@host ready").0;
        assert_ne!(c, d);
    }

    #[test]
    fn ids_survive_cache_clearing() {
        let settings = MinerSettings {
            cache_capacity: 2,
            ..MinerSettings::default()
        };
        let mut m = TemplateMiner::new(settings);
        let lines: Vec<String> = (0..200)
            .map(|i| match i % 4 {
                0 => format!("request {i} served in {}ms", i * 3),
                1 => format!("user u{i} logged in from 10.0.{}.1", i % 7),
                2 => "cache flushed".to_string(),
                _ => format!("disk /dev/sd{} at {}% capacity", i % 3, i % 100),
            })
            .collect();
        let first: Vec<u32> = lines.iter().map(|l| m.mine(l.as_bytes()).0).collect();
        let again: Vec<u32> = lines.iter().map(|l| m.mine(l.as_bytes()).0).collect();
        assert_eq!(first, again);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn is_new_only_after_warmup() {
        let settings = MinerSettings {
            warmup_lines: 3,
            ..MinerSettings::default()
        };
        let mut m = TemplateMiner::new(settings);
        assert_eq!(m.mine(b"alpha one"), (0, false));
        assert_eq!(m.mine(b"beta two three"), (1, false));
        assert_eq!(m.mine(b"alpha one"), (0, false));
        assert_eq!(m.mine(b"gamma four five six"), (2, true));
        assert_eq!(m.mine(b"gamma four five six"), (2, false));
        assert_eq!(m.mine(b"beta two three"), (1, false));
    }

    #[test]
    fn save_and_load_continue_with_the_same_ids() {
        let mut rng = Rng(7);
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
        let lines: Vec<String> = (0..2000)
            .map(|_| {
                let w = words[rng.below(6) as usize];
                let v = words[rng.below(6) as usize];
                match rng.below(3) {
                    0 => format!(
                        "{w} started on node-{} in {}ms",
                        rng.below(50),
                        rng.below(999)
                    ),
                    1 => format!("{w} {v} failed: code {}", rng.below(5)),
                    _ => format!(
                        "user {} sent {} bytes to {w}",
                        rng.below(9),
                        rng.below(1 << 20)
                    ),
                }
            })
            .collect();
        let mut a = miner();
        for l in &lines[..1000] {
            a.mine(l.as_bytes());
        }
        let state = a.save();
        let mut b = TemplateMiner::load(&state).expect("load");
        assert_eq!(a.templates(), b.templates());
        assert_eq!(b.settings(), a.settings());
        for l in &lines[1000..] {
            assert_eq!(a.mine(l.as_bytes()), b.mine(l.as_bytes()), "{l}");
        }
        assert_eq!(a.templates(), b.templates());
        // A second round trip is byte-identical.
        assert_eq!(TemplateMiner::load(&b.save()).unwrap().save(), b.save());
    }

    #[test]
    fn load_rejects_bad_state_without_panicking() {
        let good = {
            let mut m = miner();
            m.mine(b"hello world 1");
            m.mine(b"something else entirely");
            String::from_utf8(m.save()).unwrap()
        };
        for bad in [
            "",
            "{}",
            "null",
            "[1,2,3]",
            "{\"version\": 2}",
            &good.replace("\"version\":1", "\"version\":9"),
            &good.replace(
                "\"clusters\":[{\"tokens\":[",
                "\"clusters\":[{\"tokens\":[999999,",
            ),
            &good.replace("\"roots\":[[", "\"roots\":[[7,12345],["),
        ] {
            assert!(
                TemplateMiner::load(bad.as_bytes()).is_err(),
                "accepted {bad:?}"
            );
        }
        // Random corruptions: an error or a working miner, never a panic.
        let mut rng = Rng(11);
        for _ in 0..300 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = b"0123456789[]{},:\"x"[rng.below(18) as usize];
            }
            if let Ok(mut m) = TemplateMiner::load(&bytes) {
                m.mine(b"hello world 2");
                m.mine(b"");
                let _ = m.templates();
            }
        }
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut rng = Rng(3);
        let mut m = TemplateMiner::new(MinerSettings {
            max_templates: 500,
            cache_capacity: 1000,
            ..MinerSettings::default()
        });
        let alphabet: &[u8] = b" \t\n\r0123456789abcdefxyzABCXYZ.:-/_=@,~+#()[]{}<>\"'!?\\*%";
        for n in 0..20_000 {
            let len = rng.below(if n % 100 == 0 { 5000 } else { 80 }) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| match rng.below(10) {
                    0 => rng.next() as u8,
                    1 => 0xff,
                    _ => alphabet[rng.below(alphabet.len() as u64) as usize],
                })
                .collect();
            let (id, _) = m.mine(&line);
            assert!((id as usize) < m.len());
        }
        assert!(m.len() <= 501);
        let _ = m.templates();
        let back = TemplateMiner::load(&m.save()).expect("round trip");
        assert_eq!(back.templates(), m.templates());
    }

    #[test]
    fn invalid_utf8_is_mined_as_bytes() {
        let mut m = miner();
        let a = m.mine(b"bad \xff\xfe token 12").0;
        let b = m.mine(b"bad \xff\xfe token 99").0;
        let c = m.mine(b"other \xfe\xff token here 99").0;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            m.template_text(a).unwrap(),
            "bad \u{fffd}\u{fffd} token <*>"
        );
        let back = TemplateMiner::load(&m.save()).unwrap();
        assert_eq!(back.templates(), m.templates());
    }

    #[test]
    fn max_templates_caps_memory() {
        let mut m = TemplateMiner::new(MinerSettings {
            max_templates: 10,
            ..MinerSettings::default()
        });
        for i in 0..1000 {
            let line = format!(
                "event{} kind{} happened",
                (b'a' + (i % 26) as u8) as char,
                i
            );
            m.mine(line.as_bytes());
            let other = format!("w{} x{} y{} z{}", i, i * 7, i * 13, i * 17);
            m.mine(other.as_bytes());
        }
        assert!(m.len() <= 11, "{}", m.len());
    }

    #[test]
    fn memory_grows_with_templates_not_lines() {
        let mut m = miner();
        let mut rng = Rng(5);
        for _ in 0..50_000 {
            let line = format!(
                "GET /api/v1/items/{} from 10.0.{}.{} took {}ms status {}",
                rng.below(1_000_000),
                rng.below(256),
                rng.below(256),
                rng.below(5000),
                200 + rng.below(5)
            );
            m.mine(line.as_bytes());
        }
        let small = m.memory_bytes();
        for _ in 0..200_000 {
            let line = format!(
                "GET /api/v1/items/{} from 10.0.{}.{} took {}ms status {}",
                rng.below(1_000_000),
                rng.below(256),
                rng.below(256),
                rng.below(5000),
                200 + rng.below(5)
            );
            m.mine(line.as_bytes());
        }
        assert_eq!(m.len(), 1);
        assert!(
            m.memory_bytes() <= small + 1024,
            "{} -> {}",
            small,
            m.memory_bytes()
        );
    }

    #[test]
    fn settings_round_trip_and_defaults_fill_in() {
        let s: MinerSettings = serde_json::from_str("{\"depth\": 5}").unwrap();
        assert_eq!(s.depth, 5);
        assert_eq!(s.sim_threshold, MinerSettings::default().sim_threshold);
        let json = serde_json::to_string(&MinerSettings::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<MinerSettings>(&json).unwrap(),
            MinerSettings::default()
        );
    }

    #[test]
    fn masking_off_mines_raw_tokens() {
        let mut m = TemplateMiner::new(MinerSettings {
            mask_variables: false,
            ..MinerSettings::default()
        });
        let a = m.mine(b"took 1 ms to connect").0;
        let b = m.mine(b"took 2 ms to connect").0;
        assert_eq!(a, b);
        assert_eq!(m.template_text(a).unwrap(), "took <*> ms to connect");
    }

    #[test]
    fn pathological_lines_are_bounded() {
        let mut m = miner();
        let long: Vec<u8> = (0..100_000)
            .map(|i| if i % 3 == 0 { b' ' } else { b'a' })
            .collect();
        let (id, _) = m.mine(&long);
        let text = m.template_text(id).unwrap();
        assert!(text.split(' ').count() <= MinerSettings::default().max_tokens + 1);
        let (id2, _) = m.mine(&long);
        assert_eq!(id, id2);
        assert_eq!(m.mine(b"   \t  ").0, m.mine(b"").0);
    }
}
