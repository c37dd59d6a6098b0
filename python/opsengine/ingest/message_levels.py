"""A level for lines the header parser left without one, read from the start of the message.

The core (``core/src/syslog.rs``) takes a leading level word for most layouts, but some
still reach the store with ``level`` null although the message opens with one: rsyslog's
file format (an RFC 3339 timestamp, ``host tag[pid]:``, no PRI), ``<error>`` or ``(ERROR)``
after an ISO 8601 timestamp. This step fills those, and only those: a level the core found
(a PRI, a Java/Python layout) is never overridden.

It follows the core's rule for what counts as a level word, so that both halves agree: a
word marked as a level — in brackets (``[warn]``, ``<error>``, ``(ERROR)``), or followed by
a colon (``Error: …``), in UPPER, lower or Capitalised case — or a bare UPPER-case word
(``FATAL …``). Prose such as "Error loading x" is not a level. Vectorised: one anchored
regex over the messages whose level is null, no Python per line.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: level word (lower case) → the level the core names it (``Level::as_str``).
LEVEL_WORDS: dict[str, str] = {
    **dict.fromkeys(("emerg", "emergency", "panic"), "emergency"),
    "alert": "alert",
    **dict.fromkeys(("crit", "critical", "fatal"), "critical"),
    **dict.fromkeys(("err", "error", "severe"), "error"),
    **dict.fromkeys(("warn", "warning"), "warning"),
    **dict.fromkeys(("notice", "note"), "notice"),
    **dict.fromkeys(("info", "information", "informational"), "info"),
    "debug": "debug",
    **dict.fromkeys(("trace", "verbose", *(f"trace{i}" for i in range(1, 9))), "trace"),
}

_CASED = r"(?:[A-Z]+|[A-Z]?[a-z]+)[1-8]?"  # UPPER, lower or Capitalised, as in the core
_LEADING_LEVEL = (
    r"^\s*(?:"
    rf"[\[<(](?P<bracketed>{_CASED})[\]>)]:?"
    rf"|(?P<colon>{_CASED}):"
    r"|(?P<upper>[A-Z]+[1-8]?)"
    r")(?:\s|$)"
)
# The same without captures: RE2 answers "does it match" several times faster than it
# extracts, and most messages do not open with a marked word.
_MARKED_START = _LEADING_LEVEL.replace("?P<bracketed>", "?:").replace("?P<colon>", "?:")
_MARKED_START = _MARKED_START.replace("?P<upper>", "?:")
_WORDS = pa.array(list(LEVEL_WORDS), pa.string())
_LEVELS = pa.array(list(LEVEL_WORDS.values()), pa.string())


def leading_levels(messages: pa.Array) -> pa.Array:
    """Per message, the level its first word marks, or null (see the module docs)."""
    parts = pc.extract_regex(messages, _LEADING_LEVEL)
    # Exactly one alternative matched; the others captured the empty string.
    word = pc.binary_join_element_wise(
        parts.field("bracketed"), parts.field("colon"), parts.field("upper"), ""
    )
    return _LEVELS.take(pc.index_in(pc.utf8_lower(word), value_set=_WORDS))


def with_message_levels(headers: pa.RecordBatch) -> pa.RecordBatch:
    """``headers`` (``_core.parse_headers`` output) with null levels taken from the message."""
    level = headers.column("level")
    missing = pc.is_null(level)
    if not pc.any(missing).as_py():
        return headers
    candidates = headers.column("message").filter(missing)
    marked = pc.match_substring_regex(candidates, _MARKED_START).fill_null(False)
    if not pc.any(marked).as_py():
        return headers
    found = pc.replace_with_mask(
        pa.nulls(len(candidates), pa.string()), marked, leading_levels(candidates.filter(marked))
    )
    filled = pc.replace_with_mask(level, missing, found.cast(level.type))
    return headers.set_column(headers.schema.get_field_index("level"), "level", filled)
