"""Chart specs from query rows: plain data (title, axes, traces) that ``static/app.js``
hands to plotly. Built here so a page's charts are testable without a browser."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

MAX_TRACES = 24


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def line_chart(
    rows: list[dict[str, Any]],
    *,
    x: str,
    y: str,
    by: str | None,
    title: str,
    y_title: str = "",
    kind: str = "line",
    stacked: bool = False,
) -> dict[str, Any]:
    """One trace per value of ``by`` (or a single trace), in the rows' order."""
    traces: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"x": [], "y": []})
    for r in rows:
        name = "" if by is None else str(r.get(by) if r.get(by) is not None else "—")
        trace = traces[name]
        trace["x"].append(_iso(r[x]))
        trace["y"].append(r[y])
    names = sorted(traces)[:MAX_TRACES]
    return {
        "title": title,
        "kind": kind,
        "stacked": stacked,
        "y_title": y_title,
        "traces": [{"name": n or y, **traces[n]} for n in names],
        "empty": not rows,
    }


def sum_by(rows: list[dict[str, Any]], key: str, value: str) -> list[dict[str, Any]]:
    """Rows summed per ``key`` value (e.g. fleet totals per bucket), in key order."""
    totals: dict[Any, float] = defaultdict(float)
    for r in rows:
        if r[value] is not None:
            totals[r[key]] += r[value]
    return [{key: k, value: v} for k, v in sorted(totals.items())]


def table_chart(rows: list[dict[str, Any]], title: str) -> dict[str, Any] | None:
    """A chart for a query result: the first time (or text) column against each numeric
    column; None when the result has no numeric column to draw."""
    if not rows:
        return None
    columns = list(rows[0])
    numeric = [
        c
        for c in columns
        if all(
            isinstance(r[c], int | float) and not isinstance(r[c], bool)
            for r in rows
            if r[c] is not None
        )
        and any(r[c] is not None for r in rows)
    ][:6]
    axis = next((c for c in columns if isinstance(rows[0][c], datetime)), None)
    kind = "line"
    if axis is None:
        axis = next((c for c in columns if c not in numeric), None)
        kind = "bar"
    numeric = [c for c in numeric if c != axis]
    if axis is None or not numeric:
        return None
    traces = [
        {"name": c, "x": [_iso(r[axis]) for r in rows], "y": [r[c] for r in rows]} for c in numeric
    ]
    return {
        "title": title,
        "kind": kind,
        "stacked": False,
        "y_title": "",
        "traces": traces,
        "empty": False,
    }
