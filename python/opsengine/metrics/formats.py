"""Metric samples from text, files and request bodies, as Arrow tables of one schema.

Every reader returns a ``pyarrow.Table`` with :data:`METRICS_SCHEMA` — ``ts``
(timestamp[us, UTC]), ``host``, ``name``, ``labels`` (map<string, string>), ``value``
(float64) — the shape of the ``metrics`` table and of what the metric rules read.

Formats:

- **Prometheus text exposition** (what ``/metrics`` endpoints serve), parsed in the core:
  counters, gauges, histograms and summaries as their sample series, optional timestamps,
  ``NaN``/``±Inf``. See :func:`parse_prometheus`.
- **JSON**: one object per line (or one JSON array of them, or ``{"samples": [...]}``):
  ``{"name": "cpu_usage_percent", "value": 93.5, "ts": "2026-03-02T10:00:00Z",
  "host": "web1", "labels": {"cpu": "0"}}``. ``ts`` is ISO-8601 or seconds since the
  epoch; ``value`` is a number or one of ``"NaN"``, ``"+Inf"``, ``"-Inf"``. See
  :func:`parse_json_samples`.
- **Arrow IPC** (stream or file) and **Parquet** with those columns; ``host`` and
  ``labels`` may be absent, ``ts`` may be any timestamp unit. See :func:`read_arrow`.

Faults raise :class:`MetricFormatError` naming the place: ``source:line`` and the JSON
field, or the column.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from opsengine import _core
from opsengine.json_nesting import JsonNestingError, check_nesting

_TS = pa.timestamp("us", tz="UTC")
_MAP = pa.map_(pa.string(), pa.string())

METRICS_SCHEMA = pa.schema(
    [
        pa.field("ts", _TS, nullable=False),
        pa.field("host", pa.string()),
        pa.field("name", pa.string(), nullable=False),
        pa.field("labels", _MAP),
        pa.field("value", pa.float64()),
    ]
)

#: Labels on one JSON sample, at most (the exposition parser has the same bound).
MAX_LABELS = 64
#: Longest JSON line read, in bytes.
MAX_LINE_BYTES = 1 << 20
METRIC_NAME_PATTERN = r"^[A-Za-z_:][A-Za-z0-9_:]*$"
_METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Seconds since the epoch of 9999-12-31T23:59:59Z: a timestamp column holds no later time.
_MAX_EPOCH_S = 253_402_300_799
_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}


class MetricFormatError(ValueError):
    """Samples that cannot be read; ``str()`` names the place (``source:line: …``)."""


def _ts_us(value: datetime | float | int | None, what: str) -> int:
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise MetricFormatError(f"{what}: a datetime must be timezone-aware")
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MetricFormatError(f"{what}: expected a datetime or seconds since the epoch")
    if not -_MAX_EPOCH_S <= value <= _MAX_EPOCH_S:
        raise MetricFormatError(f"{what}: {value!r} seconds since the epoch is past the year 9999")
    return round(value * 1_000_000)


def parse_prometheus(
    text: str | bytes,
    *,
    default_ts: datetime | float | None = None,
    host: str | None = None,
    source: str = "<text>",
    now: datetime | float | None = None,
) -> pa.Table:
    """Parse Prometheus text exposition (format 0.0.4) into a :data:`METRICS_SCHEMA` table.

    ``default_ts`` (a timezone-aware datetime or seconds since the epoch; default now) is
    the time of samples that carry no timestamp of their own — the scrape time; ``now`` is
    the same, for callers that name it so. The ``host`` column is the sample's own ``host``
    label when it has one (moved out of ``labels``), else ``host``.

    Raises :class:`MetricFormatError` (a ValueError) as ``source:line: message``; its
    ``line`` attribute holds the line number.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            line = bytes(text)[: e.start].count(b"\n") + 1
            err = MetricFormatError(f"{source}:{line}: not UTF-8 text ({e.reason})")
            err.line = line
            raise err from None
    when = default_ts if default_ts is not None else now
    try:
        batch = _core.parse_exposition(text, default_ts_us=_ts_us(when, "default_ts"), host=host)
    except ValueError as e:
        line = getattr(e, "line", None)
        message = str(e)
        if line is not None and message.startswith(f"line {line}: "):
            message = message[len(f"line {line}: ") :]
        err = MetricFormatError(f"{source}:{line}: {message}" if line else f"{source}: {message}")
        err.line = line
        raise err from None
    return pa.Table.from_batches([batch]).cast(METRICS_SCHEMA)


def _json_value(value: Any, place: str) -> float:
    if isinstance(value, bool) or value is None:
        raise MetricFormatError(f"{place}: field 'value': expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    raise MetricFormatError(
        f'{place}: field \'value\': expected a number or "NaN"/"+Inf"/"-Inf", got {value!r}'
    )


def _json_ts(value: Any, place: str, default_us: int) -> int:
    if value is None:
        return default_us
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MetricFormatError(
                f"{place}: field 'ts': {value!r} is not ISO-8601 (e.g. 2026-03-02T10:00:00Z)"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return _ts_us(dt, f"{place}: field 'ts'")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MetricFormatError(
            f"{place}: field 'ts': expected ISO-8601 text or seconds since the epoch"
        )
    if not -_MAX_EPOCH_S <= value <= _MAX_EPOCH_S:
        raise MetricFormatError(
            f"{place}: field 'ts': {value!r} seconds since the epoch is past the year 9999"
        )
    return round(value * 1_000_000)


def _json_sample(obj: Any, place: str, default_us: int, host: str | None) -> tuple:
    if not isinstance(obj, dict):
        raise MetricFormatError(f"{place}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - {"name", "value", "ts", "host", "labels"})
    if unknown:
        raise MetricFormatError(
            f"{place}: unknown field '{unknown[0]}' (fields: name, value, ts, host, labels)"
        )
    name = obj.get("name")
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise MetricFormatError(
            f"{place}: field 'name': expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got {name!r}"
        )
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise MetricFormatError(f"{place}: field 'labels': expected an object of strings")
    if len(labels) > MAX_LABELS:
        raise MetricFormatError(f"{place}: field 'labels': more than {MAX_LABELS} labels")
    pairs = []
    sample_host = obj.get("host", host)
    for k, v in labels.items():
        if not _LABEL_NAME.match(k):
            raise MetricFormatError(f"{place}: field 'labels.{k}': invalid label name")
        if not isinstance(v, str):
            raise MetricFormatError(f"{place}: field 'labels.{k}': expected a string")
        if k == "host":
            sample_host = obj.get("host", v)
            continue
        pairs.append((k, v))
    if sample_host is not None and not isinstance(sample_host, str):
        raise MetricFormatError(f"{place}: field 'host': expected a string")
    return (
        _json_ts(obj.get("ts"), place, default_us),
        sample_host,
        name,
        pairs,
        _json_value(obj.get("value"), place),
    )


def parse_json_samples(
    text: str | bytes,
    *,
    default_ts: datetime | float | None = None,
    host: str | None = None,
    source: str = "<text>",
) -> pa.Table:
    """Parse JSON samples — one object per line, one JSON array, or ``{"samples": [...]}``.

    ``default_ts`` is the time of samples without ``ts``; ``host`` the host of samples
    without one. Errors name ``source:line`` and the field.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("utf-8", errors="strict")
    default_us = _ts_us(default_ts, "default_ts")
    try:
        check_nesting(text)  # json.loads recurses per level
    except JsonNestingError as e:
        raise MetricFormatError(f"{source}: {e}") from None
    rows: list[tuple] = []
    stripped = text.lstrip()
    items = None
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise MetricFormatError(f"{source}:{e.lineno}: invalid JSON: {e.msg}") from None
    elif stripped.startswith("{"):
        # One document {"samples": [...]} (an API request body), else JSON lines: the
        # whole-text parse of JSON lines stops at once at the second line.
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and set(doc) == {"samples"}:
            items = doc["samples"]
            if not isinstance(items, list):
                raise MetricFormatError(f"{source}:1: field 'samples': expected a list")
    if items is not None:
        offset = text.count("\n", 0, len(text) - len(stripped)) + 1
        if not isinstance(items, list):
            raise MetricFormatError(f"{source}:{offset}: expected a JSON array of samples")
        for i, obj in enumerate(items):
            rows.append(_json_sample(obj, f"{source}:{offset} item {i}", default_us, host))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_BYTES:
                raise MetricFormatError(f"{source}:{lineno}: line longer than {MAX_LINE_BYTES}")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise MetricFormatError(f"{source}:{lineno}: invalid JSON: {e.msg}") from None
            rows.append(_json_sample(obj, f"{source}:{lineno}", default_us, host))
    return _table(rows)


def _table(rows: list[tuple]) -> pa.Table:
    ts, hosts, names, labels, values = (
        (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [], [])
    )
    return pa.Table.from_arrays(
        [
            pa.array(ts, pa.int64()).cast(_TS),
            pa.array(hosts, pa.string()),
            pa.array(names, pa.string()),
            pa.array(labels, _MAP),
            pa.array(values, pa.float64()),
        ],
        schema=METRICS_SCHEMA,
    )


def conform(table: pa.Table, *, source: str = "<table>", host: str | None = None) -> pa.Table:
    """Check and cast a table with metric columns to :data:`METRICS_SCHEMA`.

    ``host`` and ``labels`` may be missing (null / no labels); ``host`` fills missing hosts.
    """
    missing = [c for c in ("ts", "name", "value") if c not in table.column_names]
    if missing:
        raise MetricFormatError(
            f"{source}: missing column(s) {', '.join(missing)} (needs ts, name, value; "
            "optional host, labels)"
        )
    n = table.num_rows
    columns = {}
    for field in METRICS_SCHEMA:
        if field.name not in table.column_names:
            columns[field.name] = pa.nulls(n, field.type)
            continue
        col = table.column(field.name)
        try:
            if field.name == "ts" and pa.types.is_timestamp(col.type) and col.type.tz is None:
                col = col.cast(pa.timestamp(col.type.unit, tz="UTC"))
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            columns[field.name] = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise MetricFormatError(
                f"{source}: column '{field.name}': cannot read {col.type} as {field.type}: {e}"
            ) from None
    if host is not None:
        columns["host"] = pc.fill_null(columns["host"], host)
    for name in ("ts", "name"):
        nulls = columns[name].null_count
        if nulls:
            raise MetricFormatError(f"{source}: column '{name}': {nulls} null value(s)")
    if n:
        bad = pc.invert(pc.match_substring_regex(columns["name"], METRIC_NAME_PATTERN))
        if pc.any(bad).as_py():
            first = columns["name"].filter(bad)[0].as_py()
            raise MetricFormatError(
                f"{source}: column 'name': {first[:80]!r} is not a metric name "
                "([a-zA-Z_:][a-zA-Z0-9_:]*)"
            )
    return pa.Table.from_pydict(columns, schema=METRICS_SCHEMA)


def is_metric_name(name: str) -> bool:
    """A Prometheus metric name: what every ingest path accepts."""
    return bool(_METRIC_NAME.match(name))


def read_arrow(path: str | Path, *, host: str | None = None) -> pa.Table:
    """Read an Arrow IPC file or stream, or a Parquet file, as a metrics table."""
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
    try:
        if head[:4] == b"PAR1":
            table = pq.read_table(path)
        elif head[:6] == b"ARROW1":
            with ipc.open_file(path) as r:
                table = r.read_all()
        else:
            with ipc.open_stream(path) as r:
                table = r.read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise MetricFormatError(f"{path}: not a readable Arrow IPC or Parquet file: {e}") from None
    return conform(table, source=str(path), host=host)


#: File kinds :func:`read_metrics_file` tells apart.
KINDS = ("prometheus", "json", "arrow")


def sniff_kind(path: Path, head: bytes) -> str:
    """The format of a file: by its first bytes (Arrow, Parquet, JSON), else Prometheus text."""
    if head[:4] == b"PAR1" or head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return "arrow"
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".parquet", ".arrow", ".arrows", ".ipc", ".feather"):
        return "arrow"
    if suffixes and suffixes[-1] in (".json", ".jsonl", ".ndjson"):
        return "json"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "prometheus"


def read_metrics_file(
    path: str | Path,
    *,
    kind: str | None = None,
    host: str | None = None,
    default_ts: datetime | float | None = None,
) -> pa.Table:
    """Read samples from a file: Prometheus text, JSON lines, Arrow IPC or Parquet.

    ``kind`` (one of :data:`KINDS`) overrides sniffing; ``.gz`` text files are read
    decompressed. Samples without a timestamp get ``default_ts`` (default: the file's
    modification time, so a saved scrape keeps its time when replayed).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
        kind = kind or sniff_kind(path, head)
        if kind not in KINDS:
            raise MetricFormatError(f"{path}: unknown format {kind!r} (one of {', '.join(KINDS)})")
        if kind == "arrow":
            return read_arrow(path, host=host)
        data = path.read_bytes()
        if head[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        when = default_ts if default_ts is not None else path.stat().st_mtime
    except OSError as e:
        raise MetricFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if kind == "json":
        try:
            return parse_json_samples(data, default_ts=when, host=host, source=str(path))
        except UnicodeDecodeError as e:
            raise MetricFormatError(f"{path}: not UTF-8 text ({e.reason})") from None
    return parse_prometheus(data, default_ts=when, host=host, source=str(path))


def concat(tables: Iterable[pa.Table]) -> pa.Table:
    """One metrics table from several."""
    tables = list(tables)
    return pa.concat_tables(tables) if tables else METRICS_SCHEMA.empty_table()
