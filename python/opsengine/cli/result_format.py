"""Showing results: aligned text tables, CSV, JSON and Parquet from a pyarrow Table, and
service rows (dicts) as a plain table or JSON (:func:`print_records`).

Times print as ISO-8601 (UTC as stored), maps as JSON objects, NULL as ``NULL`` in a
table and as empty/``null`` in CSV/JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

TEXT_FORMATS = ("table", "csv", "json")
ALL_FORMATS = (*TEXT_FORMATS, "parquet")
MAX_CELL_WIDTH = 100


def render(table: pa.Table, fmt: str) -> str:
    """The text form of ``table`` in one of TEXT_FORMATS."""
    if fmt == "table":
        return table_text(table)
    if fmt == "csv":
        return csv_text(table)
    if fmt == "json":
        return json_text(table)
    raise ValueError(f"unknown text format {fmt!r} (expected one of {', '.join(TEXT_FORMATS)})")


def write_parquet(table: pa.Table, path: str | Path) -> None:
    import pyarrow.parquet as pq  # only this format needs it; keep the CLI's start-up light

    pq.write_table(table, str(path))


def table_text(table: pa.Table, *, max_cell_width: int = MAX_CELL_WIDTH) -> str:
    """Columns aligned under their names, numbers to the right, then a row count."""
    names = table.column_names
    columns = [_column_values(table.column(i)) for i in range(table.num_columns)]
    numeric = [_is_numeric(field.type) for field in table.schema]
    cells = [[_cell_lines(_display(v), max_cell_width) for v in values] for values in columns]
    widths = [
        max([len(name)] + [len(line) for cell in col for line in cell])
        for name, col in zip(names, cells, strict=True)
    ]
    out = []
    if names:
        out.append("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip())
        out.append("  ".join("-" * w for w in widths))
    for r in range(table.num_rows):
        row_cells = [col[r] for col in cells]
        for line_no in range(max(len(c) for c in row_cells)):
            parts = []
            for cell, width, right in zip(row_cells, widths, numeric, strict=True):
                text = cell[line_no] if line_no < len(cell) else ""
                parts.append(text.rjust(width) if right else text.ljust(width))
            out.append("  ".join(parts).rstrip())
    out.append(f"({table.num_rows} row{'' if table.num_rows == 1 else 's'})")
    return "\n".join(out) + "\n"


def csv_text(table: pa.Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [_column_values(table.column(i)) for i in range(table.num_columns)]
    for r in range(table.num_rows):
        writer.writerow(["" if col[r] is None else _plain_text(col[r]) for col in columns])
    return buffer.getvalue()


def json_text(table: pa.Table) -> str:
    """A JSON array with one object per row, one row per line."""
    names = table.column_names
    columns = [_column_values(table.column(i)) for i in range(table.num_columns)]
    rows = [
        json.dumps(
            {n: _json_value(col[r]) for n, col in zip(names, columns, strict=True)},
            ensure_ascii=False,
        )
        for r in range(table.num_rows)
    ]
    if not rows:
        return "[]\n"
    return "[\n" + ",\n".join(rows) + "\n]\n"


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    values = column.to_pylist()
    if pa.types.is_map(column.type):
        return [None if v is None else dict(v) for v in values]
    return values


def _is_numeric(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)


def _display(value: Any) -> str:
    return "NULL" if value is None else _plain_text(value)


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(_json_value(value), ensure_ascii=False)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _cell_lines(text: str, width: int) -> list[str]:
    lines = text.splitlines() or [""]
    return [line if len(line) <= width else line[: width - 1] + "…" for line in lines]


def print_records(
    rows: list[dict[str, Any]] | dict[str, Any], args: Any, columns: Sequence[str] = ()
) -> None:
    """Service rows (dicts) on stdout: JSON with ``--json`` (or for one record), else a plain
    table of ``columns`` (default: the first row's keys)."""
    if getattr(args, "json", False) or isinstance(rows, dict):
        print(json.dumps(rows, default=str, indent=2, ensure_ascii=False))
        return
    if not rows:
        print("(none)")
        return
    columns = columns or tuple(rows[0])
    cells = [[cell_text(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def cell_text(value: Any) -> str:
    """One value as a table cell: times in UTC, lists joined, at most 60 characters."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 60 else text[:59] + "…"
