"""Typed surface of the compiled core, ``opsengine._core`` (Rust crate ``opsengine-core``).

Arrow inputs are accepted through the Arrow PyCapsule interface: any object
with ``__arrow_c_array__`` or ``__arrow_c_stream__`` (pyarrow arrays and
chunked arrays, polars Series, arro3, nanoarrow). Outputs are pyarrow objects.
All heavy calls release the GIL.
"""

from typing import Any, Protocol, TypedDict

import pyarrow as pa

class ArrowArrayExportable(Protocol):
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...

class ArrowStreamExportable(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

Lines = ArrowArrayExportable | ArrowStreamExportable

#: The most log rules one matcher compiles; more is refused with ValueError.
MAX_RULES: int
#: Required literals shorter than this do not prefilter; such rules run on every line.
MIN_LITERAL_LEN: int

class Plan(TypedDict):
    rules: int
    prefiltered_rules: int
    always_checked_rules: list[str]
    literals: int

class RuleMatcher:
    """Log rules compiled into one matcher: literal prefilter, then per-rule confirmation.

    Raises ValueError for an invalid rule; the exception carries ``rule_index``
    (the position of the rule at fault) when one rule is to blame.
    """

    def __init__(self, rules: list[tuple[str, str, bool, bool]]) -> None:
        """``rules``: (name, pattern, literal, ignore_case) in rule order."""
    def __len__(self) -> int: ...
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
    and ``format`` (rfc5424, rfc3164, iso8601, epoch, apache_error, apache_access, generic,
    unparsed). A null line gives a row of nulls. ``reference_ts_us`` (default: now) dates
    year-less syslog timestamps; ``utc_offset_secs`` is the zone of timestamps without one.
    """

class TemplateMiner:
    """A streaming, Drain-style log-template miner; ids are stable across calls and save/load."""

    def __init__(self, settings_json: str | None = None) -> None:
        """``settings_json``: a JSON object of settings (missing fields take defaults)."""
    @staticmethod
    def default_settings_json() -> str: ...
    def settings_json(self) -> str: ...
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

def __getattr__(name: str) -> Any: ...
