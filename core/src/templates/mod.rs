//! Streaming, Drain-style log-template miner.
//!
//! Each line is mined as it comes and gets the id of its template at once; ids are stable
//! (a template keeps its id when its text is generalised later) and the state grows with the
//! number of templates, not lines. The design, in the order a line meets it:
//!
//! 1. **Masking tokenizer** (one pass over the bytes, no regexes): the line is split at ASCII
//!    whitespace and the variable parts of each token become `<*>`: numbers (`42`, `-1`,
//!    `3.5`, `0x1f`), numbers with units (`12ms`, `3.5KB`, `1190 bytes`), dates and times
//!    (`2016-09-28`, `04:30:30`, `Fri Jun 17`), IPs and host:port pairs, host names with a
//!    top-level label, paths and URLs, UUIDs, hex ids, ids with digits (`blk_-123`,
//!    `appattempt_1445_0020`), the values of `key=value` pairs when they hold digits or paths,
//!    and empty values (`()`). Adjacent variables collapse into one (`1.16 KB` and `00:01`
//!    and `0 bytes` are all one `<*>`), so lines whose variables span a varying number of
//!    words still share a template. Numbered names keep their letters (`eth0` -> `eth<*>`).
//! 2. **Whole-line cache**: a 128-bit hash of the masked line maps to the template id it got
//!    before, so the same shape gets the same id without touching the tree (bounded, cleared
//!    when full).
//! 3. **Prefix tree** (Drain): by token count, then by the first `depth - 2` tokens that are
//!    plain words; leaves hold templates.
//! 4. **Matching inside a leaf**: a template takes a line when they agree on enough positions
//!    (`sim_threshold`) and every disagreement may be a variable:
//!    - two different *words* at a position name different events (`opened`/`closed`,
//!      `Started`/`Paused`), so they never merge, except right after a variable-introducing
//!      word (`user root`, `for admin`, `user=guest`; see `variable_keys`);
//!    - other tokens (ids, dotted names, mixed tokens) may merge while the template is young:
//!      a template that already took `protect_after` lines (divided by the number of
//!      disagreeing positions) keeps its constants, and a line that differs starts a new
//!      template. Variables vary early; constants that held for many lines are constants.
//!
//!    The oldest template that already covers a line keeps it, else the most similar one
//!    takes it and the disagreeing positions become `<*>`.

mod miner;
mod tokenizer;

pub use miner::TemplateMiner;
pub use tokenizer::mask_line;

use serde::{Deserialize, Serialize};

/// The text that stands for a variable in templates.
pub const WILDCARD: &str = "<*>";

/// Settings of a [`TemplateMiner`]. The defaults are tuned once for all kinds of logs
/// (16 loghub datasets), not per source.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MinerSettings {
    /// Depth of the prefix tree as in Drain: the root, the token-count level, then
    /// `depth - 2` levels of leading words.
    pub depth: usize,
    /// Share of positions on which a line and a template must agree for the template to take
    /// a line that differs from it.
    pub sim_threshold: f64,
    /// Children of a tree node before further tokens share its wildcard child.
    pub max_children: usize,
    /// Templates kept at most. Once reached, a line that no template may take goes to the
    /// closest template of its leaf, else to one catch-all template `<*>` (so `len()` may
    /// reach `max_templates + 1`).
    pub max_templates: usize,
    /// No "new template" signal (`is_new`) for the first this many lines.
    pub warmup_lines: u64,
    /// Replace variable parts of tokens by `<*>` before matching (see the module docs).
    pub mask_variables: bool,
    /// Entries of the whole-line cache (cleared when full).
    pub cache_capacity: usize,
    /// Longer lines are mined on their first this many bytes.
    pub max_line_bytes: usize,
    /// Tokens of a line mined at most; the rest of the line is one variable.
    pub max_tokens: usize,
    /// A template that took this many lines (divided by the number of differing positions)
    /// no longer turns differing constants into variables: such a line starts a new template.
    pub protect_after: u64,
    /// Different words at a position never merge (they name different events).
    pub split_words: bool,
    /// Words after which a variable follows (`user root`), and keys whose values are
    /// variables (`user=root`). Case-insensitive.
    pub variable_keys: Vec<String>,
}

impl Default for MinerSettings {
    fn default() -> Self {
        MinerSettings {
            depth: 4,
            sim_threshold: 0.6,
            max_children: 100,
            max_templates: 100_000,
            warmup_lines: 1_000,
            mask_variables: true,
            cache_capacity: 200_000,
            max_line_bytes: 16 * 1024,
            max_tokens: 256,
            protect_after: 48,
            split_words: true,
            variable_keys: ["user", "for"].iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// One template: its id, its text with variables as `<*>`, and how many lines it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    pub id: u32,
    pub text: String,
    pub count: u64,
}
