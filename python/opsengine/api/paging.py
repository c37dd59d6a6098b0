"""What list endpoints share: query-parameter conversion, cursors, and Arrow rows as JSON.

Lists are pages of at most ``limit`` rows (1..1000) in a fixed order; a page that may
have more after it carries ``next_cursor``, an opaque string the client sends back as
``cursor``. Cursors are keyset positions (the sort key of the last row), so a page stays
right while new rows arrive. Times in query parameters take what the CLI takes:
ISO-8601 (no zone = UTC), ``now``, ``today``, ``-15m``, ``-7d``.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from opsengine.api.errors import ApiError, FieldError
from opsengine.store.param_values import convert_param_value

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def bad_param(name: str, message: str) -> ApiError:
    return ApiError(
        422, f"query parameter {name!r}: {message}", errors=[FieldError(f"query:{name}", message)]
    )


def time_param(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return convert_param_value("TIMESTAMPTZ", value)
    except ValueError as e:
        raise bad_param(name, str(e)) from None


def limit_param(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise bad_param("limit", f"must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def encode_cursor(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime | date) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: tuple[type, ...]) -> list[Any] | None:
    """The keyset values inside ``cursor``, checked against ``kinds`` (datetime is parsed)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        out = []
        for v, kind in zip(values, kinds, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(v))
            elif not isinstance(v, kind) or isinstance(v, bool):
                raise ValueError
            else:
                out.append(v)
        return out
    except (ValueError, TypeError, UnicodeDecodeError):
        raise bad_param(
            "cursor", "not a cursor from this list; send next_cursor as given"
        ) from None


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow rows as JSON-ready dicts (maps become objects; times stay datetimes for msgspec;
    NaN and ±Inf become the strings "NaN", "+Inf", "-Inf")."""
    out = table.to_pylist(maps_as_pydicts="lossy")
    special = [
        name
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_floating(column.type)
        and column.length() > column.null_count
        and not pc.all(pc.is_finite(column)).as_py()
    ]
    for r in out:
        for name in special:
            r[name] = json_number(r[name])
    return out


def json_number(value: Any) -> Any:
    """``value``, or for a non-finite float the string Prometheus' API uses for it.

    JSON has no NaN or infinity; encoders write ``null``, which a client cannot tell from
    SQL NULL, so they are spelt as strings instead.
    """
    if type(value) is float and not math.isfinite(value):
        return "NaN" if value != value else "+Inf" if value > 0 else "-Inf"
    return value


class Page(msgspec.Struct):
    """One page of a list: ``next_cursor`` is null on the last page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def page(items: list[dict[str, Any]], limit: int, key: tuple[str, ...]) -> Page:
    """A page from ``limit + 1`` fetched rows: the first ``limit`` and the cursor after them."""
    shown = items[:limit]
    cursor = None
    if len(items) > limit and shown:
        cursor = encode_cursor([shown[-1][k] for k in key])
    return Page(shown, cursor)
