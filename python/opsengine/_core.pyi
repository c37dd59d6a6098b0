"""Typed surface of the compiled core, ``opsengine._core`` (Rust crate ``opsengine-core``).

Arrow inputs are accepted through the Arrow PyCapsule interface: any object
with ``__arrow_c_array__`` or ``__arrow_c_stream__`` (pyarrow arrays and
chunked arrays, polars Series, arro3, nanoarrow). Outputs are pyarrow objects.
All heavy calls release the GIL.
"""

from typing import Protocol, TypedDict

import pyarrow as pa

class ArrowArrayExportable(Protocol):
    """An Arrow array through the PyCapsule interface (pyarrow arrays, polars Series, …)."""

    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...

class ArrowStreamExportable(Protocol):
    """An Arrow stream through the PyCapsule interface (chunked arrays, tables, readers)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

Lines = ArrowArrayExportable | ArrowStreamExportable

#: The most log rules one matcher compiles; more is refused with ValueError.
MAX_RULES: int
#: Required literals shorter than this do not prefilter; such rules run on every line.
MIN_LITERAL_LEN: int

class Plan(TypedDict):
    """How a ``RuleMatcher`` compiled its rules."""

    rules: int
    prefiltered_rules: int
    always_checked_rules: list[str]
    literals: int

class LogRuleSpec(TypedDict):
    """One log rule of a ``RuleMatcher``."""

    name: str
    pattern: str
    #: The pattern is a plain string, not a regex.
    literal: bool
    ignore_case: bool

class RuleMatcher:
    """Log rules compiled into one matcher: literal prefilter, then per-rule confirmation.

    Raises ValueError for an invalid rule; the exception carries ``rule_index``
    (the position of the rule at fault) when one rule is to blame.
    """

    def __init__(self, rules: list[LogRuleSpec]) -> None:
        """``rules`` in rule order. A missing key or a bad value is a ValueError naming the
        item and the key, with ``rule_index``."""
    def __len__(self) -> int:
        """Number of rules."""
    @property
    def names(self) -> list[str]:
        """Rule names in rule order."""
    @property
    def capture_columns(self) -> list[str]:
        """Named capture groups across all rules, in output-column order."""
    def plan(self) -> Plan:
        """How the rules were compiled."""
    def match_lines(self, lines: Lines, *, threads: int = 0) -> pa.RecordBatch:
        """Match a string/binary array or chunked array (Utf8, LargeUtf8, Utf8View, Binary,
        LargeBinary, BinaryView; nulls skipped). Returns ``row`` (uint64), ``rule``
        (dictionary<int32, utf8>) and one nullable string column per capture name,
        ordered by row then rule. ``threads=0`` uses all cores; results do not depend on it.
        """
    def count_lines(self, lines: Lines, *, threads: int = 0) -> list[int]:
        """Matching lines per rule, in rule order."""

def parse_headers(
    lines: Lines,
    *,
    reference_ts_us: int | None = None,
    utc_offset_secs: int = 0,
    threads: int = 0,
) -> pa.RecordBatch:
    """Parse each line's header: one row per line with ``ts`` (timestamp[us, UTC]), ``host``,
    ``app``, ``pid``, ``level`` (emergency … trace), ``message`` (the text after the header)
    and ``format`` (rfc5424, rfc3164, iso8601, epoch, apache_error, apache_access, logfmt, generic,
    unparsed). A null line gives a row of nulls. ``reference_ts_us`` (default: now) dates
    year-less syslog timestamps; ``utc_offset_secs`` is the zone of timestamps without one.
    """

class MinerSettings(TypedDict, total=False):
    """Settings of a ``TemplateMiner`` (``core/src/templates/mod.rs``); a missing key takes
    its default."""

    depth: int
    sim_threshold: float
    max_children: int
    max_templates: int
    warmup_lines: int
    mask_variables: bool
    cache_capacity: int
    max_line_bytes: int
    max_tokens: int
    protect_after: int
    split_words: bool
    variable_keys: list[str]

class TemplateMiner:
    """A streaming, Drain-style log-template miner; ids are stable across calls and save/load."""

    def __init__(self, settings: MinerSettings | None = None) -> None:
        """Missing settings take their defaults; an unknown key or a bad value is a
        ValueError naming the key."""
    @staticmethod
    def default_settings() -> MinerSettings:
        """The default settings, every key present."""
    def settings(self) -> MinerSettings:
        """This miner's settings, every key present."""
    def __len__(self) -> int:
        """Number of templates."""
    def mine(self, lines: Lines) -> pa.RecordBatch:
        """Mine lines in order: ``template_id`` (uint32) and ``is_new`` (bool) per line,
        null for a null line. Releases the GIL; one miner mines one batch at a time."""
    def templates(self) -> tuple[list[int], list[str], list[int]]:
        """(ids, texts with ``<*>`` for variables, counts) in id order."""
    def save(self) -> bytes:
        """The whole state (settings, tree, templates, counters) as bytes."""
    @staticmethod
    def load(state: bytes) -> TemplateMiner:
        """Restore a saved miner; ValueError on damaged state."""

# -- metrics (core/src/prom_text.rs, core/src/metrics/, core/src/series_id.rs) -------

def parse_exposition(text: str, *, default_ts_us: int, host: str | None = None) -> pa.RecordBatch:
    """Parse Prometheus text exposition (0.0.4) into a metrics batch: ``ts``
    (timestamp[us, UTC]), ``host``, ``name``, ``labels`` (map<string, string>), ``value``.
    Samples without a timestamp get ``default_ts_us``; ``host`` is the sample's own ``host``
    label (moved out of ``labels``) or else ``host``. ValueError with ``line`` (1-based).
    """

def series_ids(host: pa.Array, name: pa.Array, labels: pa.Array) -> pa.UInt64Array:
    """Stable 64-bit ids (FNV-1a over host, name, sorted labels) for string ``host`` and
    ``name`` columns (or all-null ``host``) and a ``labels`` map column (or null)."""

class MetricStats(TypedDict):
    """Counters of a ``MetricEvaluator`` since it was made."""

    samples: int
    unused: int
    reordered: int
    duplicates: int
    too_old: int
    invalid: int
    series: int
    evaluations: int
    eval_errors: int

class MetricRuleSpec(TypedDict):
    """One rule of a ``MetricEvaluator``."""

    name: str
    #: A PromQL-subset expression.
    expr: str
    for_seconds: float
    keep_firing_for_seconds: float

class MetricEvaluator:
    """Metric rules compiled into one streaming evaluator driven by the samples' timestamps.

    Raises ValueError for a rule whose expression does not compile; the exception carries
    ``rule_index``. Steps are evaluated once a sample after them arrived; alert states
    follow Prometheus (pending → firing → resolved, ``for``, ``keep_firing_for``).
    """

    def __init__(
        self,
        rules: list[MetricRuleSpec],
        *,
        step_seconds: float = 60.0,
        lookback_seconds: float = 300.0,
    ) -> None:
        """``rules`` in rule order. A missing key or a bad value is a ValueError naming the
        item and the key, with ``rule_index``."""
    def __len__(self) -> int:
        """Number of rules."""
    @property
    def names(self) -> list[str]:
        """Rule names in rule order."""
    @property
    def step_seconds(self) -> float:
        """The evaluation step."""
    @property
    def history_seconds(self) -> float:
        """How far back the rules read: what to reload after a restart."""
    @property
    def last_evaluation_us(self) -> int | None:
        """The last evaluated step, µs since the epoch."""
    def reads_metric(self, name: str) -> bool:
        """Whether any rule reads the metric ``name``."""
    def evaluate(self, samples: ArrowArrayExportable | ArrowStreamExportable) -> pa.RecordBatch:
        """Take in samples (ts, host, name, labels, value; any order; names may be
        dictionary-encoded) and return the changes of the steps they complete: ``ts``,
        ``rule``, ``state`` (pending|firing|resolved), ``labels`` (map), ``value``,
        ``active_since``, ``fired_at``, ``resolved_at``. Releases the GIL."""
    def advance_to(self, ts_us: int) -> pa.RecordBatch:
        """Evaluate the steps up to ``ts_us`` with no new samples; same columns as ``evaluate``."""
    def save_state(self) -> str:
        """Pending and firing alerts and the evaluation clock, as JSON."""
    def restore_state(self, state: str) -> None:
        """Restore ``save_state`` output; ValueError when it is damaged."""
    def stats(self) -> MetricStats:
        """Samples taken, skipped and evaluated, series and evaluation counters."""
    def rule_errors(self) -> list[tuple[str, str]]:
        """(rule, message) of each rule whose last evaluation failed."""

class ThresholdRuleSpec(TypedDict):
    """One rule of ``LogThresholds``: ``count`` events within ``within_seconds``."""

    name: str
    count: int
    within_seconds: float

class LogThresholds:
    """Windows of log rules with ``threshold: {count, within, by}`` (core/src/thresholds.rs):
    a key fires when ``count`` of its events fall within ``within`` (event time) and
    resolves when the count-th newest event leaves the window. ValueError for count 0 or a
    window that is not positive."""

    def __init__(self, rules: list[ThresholdRuleSpec]) -> None:
        """``rules`` in rule order. A missing key or a bad value is a ValueError naming the
        item and the key, with ``rule_index``."""
    def evaluate(self, rule_index: pa.Array, ts: pa.Array, key: pa.Array) -> pa.RecordBatch:
        """Feed events (``rule_index`` uint32, ``ts`` timestamp[us], ``key`` utf8; any order).
        Returns the changes: ``ts``, ``rule``, ``key``, ``state`` (firing|resolved), ``count``,
        ``active_since``, ``fired_at``, ``resolved_at``."""
    def advance_to(self, ts_us: int) -> pa.RecordBatch:
        """Resolve what went quiet by ``ts_us``; same columns as ``evaluate``."""
    def save_state(self) -> str:
        """The live windows, as JSON."""
    def restore_state(self, state: str) -> None:
        """Restore ``save_state`` output; ValueError when the state is damaged."""
    def key_count(self) -> int:
        """Keys (rule, key) with a live window."""
