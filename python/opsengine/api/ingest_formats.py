"""Request bodies of the ingest endpoints, decoded into what the engine takes — whole, or not at all.

Log bodies become Arrow string arrays without a Python step per line: the body is viewed
as one Arrow binary value, validated as UTF-8 by Arrow's cast, and split on newlines by
Arrow. NDJSON goes through Arrow's JSON reader once its nesting is measured (a reader
that recurses per level must never see a deep body), Arrow IPC streams are read as they are.
Each decoder checks the whole body before anything is stored, so a bad byte on the last
line rejects the request and stores nothing; errors name the line, record or field.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from opsengine.api.errors import ApiError, FieldError
from opsengine.json_nesting import JsonNestingError, check_nesting

TEXT = "text"
NDJSON = "ndjson"
ARROW = "arrow"
JSON = "json"
PROMETHEUS = "prometheus"

ARROW_STREAM_TYPES = ("application/vnd.apache.arrow.stream", "application/x-arrow-stream")
LOG_LINE_COLUMNS = ("line", "message")  # the text of a record, by either name
LOG_RECORD_COLUMNS = frozenset({*LOG_LINE_COLUMNS, "host", "source"})
MAX_GROUPS = 1000  # distinct (source, host) pairs in one request
MAX_NAME_CHARS = 256  # source and host names


@dataclass
class LogGroup:
    """Lines that share a source and host (None: the query parameter or the parsed header)."""

    lines: pa.Array
    source: str | None = None
    host: str | None = None


@dataclass
class DecodedLogs:
    groups: list[LogGroup]
    rejected: dict[str, int] = field(default_factory=dict)


def media_kind(content_type: str | None, allowed: dict[str, str]) -> str:
    """The body kind for a Content-Type header; 415 names what this endpoint takes."""
    raw = (content_type or "").strip()
    base, _, rest = raw.partition(";")
    base = base.strip().lower()
    charset = re.search(r"charset\s*=\s*\"?([\w.-]+)", rest, re.IGNORECASE)
    if charset and charset.group(1).lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
        raise ApiError(
            415,
            f"charset {charset.group(1)!r} is not accepted; send UTF-8",
            errors=[FieldError("header:content-type", "charset must be utf-8")],
        )
    if base in allowed:
        return allowed[base]
    raise ApiError(
        415,
        f"Content-Type {raw or '(none)'!r} is not accepted here; "
        f"send one of {', '.join(sorted(k for k in allowed if k))}",
        errors=[FieldError("header:content-type", "unsupported media type")],
    )


# -- UTF-8 -------------------------------------------------------------------
def utf8_text(body: bytes) -> pa.Array:
    """The body as one Arrow string value, validated as UTF-8 by Arrow."""
    offsets = pa.array([0, len(body)], pa.int64()).buffers()[1]
    binary = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(body)])
    try:
        return binary.cast(pa.large_string())
    except pa.ArrowInvalid:
        raise _invalid_utf8(body) from None


def _invalid_utf8(body: bytes) -> ApiError:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        column = e.start - (body.rfind(b"\n", 0, e.start) + 1) + 1
        where = f"line {line}, byte {column}"
        return ApiError(
            422,
            f"the body is not valid UTF-8 at {where} (offset {e.start}): {e.reason}; "
            "nothing was stored",
            errors=[FieldError(f"body:line {line}", f"invalid UTF-8 at byte {column}")],
        )
    return ApiError(422, "the body is not valid UTF-8; nothing was stored")


# -- logs --------------------------------------------------------------------
def text_lines(body: bytes) -> DecodedLogs:
    """Newline-separated lines (``\\r\\n`` too); empty lines are counted as rejected."""
    if not body:
        return DecodedLogs([])
    text = utf8_text(body)
    lines = pc.split_pattern(text, "\n").flatten()
    if body.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    if b"\r" in body:
        lines = pc.utf8_rtrim(lines, "\r")
    lines = lines.cast(pa.string())
    return _drop_empty(DecodedLogs([LogGroup(lines)]))


def ndjson_records(body: bytes) -> DecodedLogs:
    """One JSON object per line: ``line`` (or ``message``), optional ``host`` and ``source``."""
    if not body.strip():
        return DecodedLogs([])
    utf8_text(body)  # Arrow's JSON reader would replace bad bytes silently; refuse them here
    bounded_nesting(body)  # Arrow's reader recurses per level: deep input overflows the stack
    try:
        table = pa_json.read_json(
            io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(body)))
        )
    except pa.ArrowInvalid as e:
        message = re.sub(
            r"in row (\d+)", lambda m: f"in record {int(m.group(1)) + 1}", str(e)
        ).removeprefix("JSON parse error: ")
        raise ApiError(
            400,
            f"malformed NDJSON: {message}; nothing was stored",
            errors=[FieldError("body", message)],
        ) from None
    return _log_records(table, "$")


def arrow_records(body: bytes) -> DecodedLogs:
    """An Arrow IPC stream with a string column ``line`` (or ``message``), optional ``host``/``source``."""
    return _log_records(read_arrow_stream(body), "column")


def read_arrow_stream(body: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        # IPC readers do not check UTF-8 or offsets; a full validation does, before any use.
        table.validate(full=True)
    except (pa.ArrowInvalid, OSError) as e:
        raise ApiError(
            400,
            f"not a valid Arrow IPC stream: {e}; nothing was stored",
            errors=[FieldError("body", str(e))],
        ) from None
    return table


def _log_records(table: pa.Table, path: str) -> DecodedLogs:
    def place(name: str) -> str:
        return f"$.{name}" if path == "$" else f"column:{name}"

    unknown = sorted(set(table.column_names) - LOG_RECORD_COLUMNS)
    if unknown:
        raise ApiError(
            422,
            f"unknown field(s) {', '.join(unknown)}; a log record has line (or message), "
            "host and source; nothing was stored",
            errors=[FieldError(place(u), "unknown field") for u in unknown],
        )
    present = [c for c in LOG_LINE_COLUMNS if c in table.column_names]
    if len(present) != 1:
        raise ApiError(
            422,
            "each record needs exactly one of line or message; nothing was stored",
            errors=[FieldError(place("line"), "missing" if not present else "both given")],
        )
    line_col = present[0]
    for name in (line_col, "host", "source"):
        if name in table.column_names:
            t = table.schema.field(name).type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
                got = str(t) if len(str(t)) <= 60 else f"{str(t)[:57]}..."
                raise ApiError(
                    422,
                    f"field {name} must be a string, got {got}; nothing was stored",
                    errors=[FieldError(place(name), f"expected string, got {got}")],
                )
    table = table.cast(
        pa.schema([pa.field(c, pa.string()) for c in table.column_names]), safe=True
    ).rename_columns(["line" if c == line_col else c for c in table.column_names])
    rejected: dict[str, int] = {}
    missing = table.column("line").null_count
    if missing:
        rejected[f"{line_col} is null"] = missing
        table = table.filter(pc.is_valid(table.column("line")))
    for name in ("host", "source"):
        if name in table.column_names:
            longest = pc.max(pc.utf8_length(table.column(name))).as_py() or 0
            if longest > MAX_NAME_CHARS:
                raise ApiError(
                    422,
                    f"a {name} is {longest} characters; at most {MAX_NAME_CHARS}",
                    errors=[FieldError(place(name), "too long")],
                )
    keys = [c for c in ("source", "host") if c in table.column_names]
    if not keys:
        decoded = DecodedLogs([LogGroup(table.column("line").combine_chunks())], rejected)
        return _drop_empty(decoded)
    combos = table.group_by(keys).aggregate([]).to_pylist()
    if len(combos) > MAX_GROUPS:
        raise ApiError(
            422,
            f"{len(combos)} distinct source/host pairs in one request; at most {MAX_GROUPS}",
        )
    groups = []
    for combo in combos:
        mask = None
        for k in keys:
            col = table.column(k)
            cond = pc.is_null(col) if combo[k] is None else pc.equal(col, combo[k])
            cond = pc.fill_null(cond, False)
            mask = cond if mask is None else pc.and_(mask, cond)
        lines = table.column("line").filter(mask).combine_chunks()
        groups.append(LogGroup(lines, combo.get("source"), combo.get("host")))
    return _drop_empty(DecodedLogs(groups, rejected))


def _drop_empty(decoded: DecodedLogs) -> DecodedLogs:
    kept = []
    for g in decoded.groups:
        nonempty = pc.greater(pc.utf8_length(g.lines), 0)
        empty = len(g.lines) - pc.sum(nonempty.cast(pa.int64())).as_py() if len(g.lines) else 0
        if empty:
            decoded.rejected["empty line"] = decoded.rejected.get("empty line", 0) + empty
            g.lines = g.lines.filter(nonempty)
        if len(g.lines):
            kept.append(g)
    decoded.groups = kept
    return decoded


# -- metrics -----------------------------------------------------------------
def metric_samples(body: bytes, kind: str, now: datetime, host: str | None) -> pa.Table:
    """Samples from Prometheus text, JSON (an array, or one object per line) or Arrow IPC,
    read by the metrics domain's own readers (``opsengine.metrics.formats``), so the API,
    the CLI and the scrapers accept exactly the same input."""
    from opsengine.metrics.formats import (
        MetricFormatError,
        conform,
        parse_json_samples,
        parse_prometheus,
    )

    try:
        if kind == PROMETHEUS:
            return parse_prometheus(utf8_bytes(body), default_ts=now, host=host, source="body")
        if kind == JSON:
            bounded_nesting(body)
            return parse_json_samples(utf8_bytes(body), default_ts=now, host=host, source="body")
        return conform(read_arrow_stream(body), source="body", host=host)
    except MetricFormatError as e:
        raise ApiError(
            422, f"{e}; nothing was stored", errors=[FieldError(_metric_place(str(e)), str(e))]
        ) from None


_METRIC_PLACE = re.compile(
    r"^body(?::(?P<line>\d+))?(?: item (?P<item>\d+))?:(?: field '(?P<field>[^']+)')?"
    r"(?: column '(?P<column>[^']+)')?"
)


def _metric_place(message: str) -> str:
    """``body:3 item 1: field 'value': …`` → ``$[1].value``; ``body:7: …`` → ``body:line 7``."""
    m = _METRIC_PLACE.match(message)
    if not m:
        return "body"
    if m["column"]:
        return f"column:{m['column']}"
    if m["item"] is not None:
        return f"$[{m['item']}]" + (f".{m['field']}" if m["field"] else "")
    if m["line"]:
        return f"body:line {m['line']}" + (f" {m['field']}" if m["field"] else "")
    return "body"


def utf8_bytes(body: bytes) -> bytes:
    """``body`` after checking it is UTF-8 (the error names the line)."""
    utf8_text(body)
    return body


# -- shared --------------------------------------------------------------------
def bounded_nesting(body: bytes) -> None:
    """400 when a JSON body nests deeper than any record does (before a parser recurses)."""
    try:
        check_nesting(body)
    except JsonNestingError as e:
        raise ApiError(
            400, f"{e}; nothing was stored", errors=[FieldError("body", str(e))]
        ) from None


def decode_json(body: bytes, type_: Any) -> Any:
    """Decode and validate JSON; malformed is 400, wrong shape 422, both with the JSON path."""
    bounded_nesting(body)
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as e:
        message, _, path = str(e).rpartition(" - at `")
        path = path.rstrip("`") if message else "$"
        message = message or str(e)
        raise ApiError(
            422, f"{path}: {message}; nothing was stored", errors=[FieldError(path, message)]
        ) from None
    except msgspec.DecodeError as e:
        raise ApiError(
            400, f"malformed JSON: {e}; nothing was stored", errors=[FieldError("body", str(e))]
        ) from None


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
