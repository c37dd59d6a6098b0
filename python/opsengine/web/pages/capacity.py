"""``/capacity``: the latest ``opsengine bench --out DIR`` report, read from the ``bench``
folder beside the store file (or the folder OPSENGINE_BENCH_DIR names), and how to
make one when there is none."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get

from opsengine.web.render import render

REPORTS = ("matcher.json", "store.json")
MAX_REPORT_BYTES = 4 << 20


def bench_dir(store_path: str | Path) -> Path:
    configured = os.environ.get("OPSENGINE_BENCH_DIR")
    return Path(configured) if configured else Path(store_path).resolve().parent / "bench"


def _rows(value: Any) -> list[dict[str, Any]]:
    """The list of result records in a report (``results`` or the top-level list)."""
    if isinstance(value, dict):
        value = value.get("results", [])
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def latest_reports(folder: Path) -> list[dict[str, Any]]:
    found = []
    for name in REPORTS:
        path = folder / name
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            found.append({"name": name, "path": str(path), "error": str(e), "rows": []})
            continue
        rows = _rows(data)
        columns = sorted(
            {k for r in rows for k, v in r.items() if not isinstance(v, dict | list)},
            key=lambda k: (k != "name", k),
        )
        found.append(
            {
                "name": name,
                "path": str(path),
                "written": datetime.fromtimestamp(path.stat().st_mtime, UTC),
                "columns": columns,
                "rows": rows,
                "error": None,
            }
        )
    return found


class CapacityPages(Controller):
    path = "/capacity"

    @get("/", sync_to_thread=True)
    def capacity(self, request: Request) -> Response:
        engine = request.app.state.services.engine
        folder = bench_dir(engine.store.path)
        return render(
            request,
            "capacity.html",
            title="Capacity",
            folder=str(folder),
            reports=latest_reports(folder),
        )
