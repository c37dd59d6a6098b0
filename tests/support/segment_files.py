"""Inputs and checks shared by the history-segment tests: numbered log files spanning days,
and counting what a store holds of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

BASE = datetime(2024, 5, 10, 20, 0, tzinfo=UTC)


def numbered_log(path: Path, lines: int, *, step_s: int = 5) -> Path:
    """``lines`` syslog-style lines ``seq=N`` whose times span several UTC days."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(lines):
            when = (BASE + timedelta(seconds=i * step_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            level = "error" if i % 97 == 0 else "info"
            f.write(f"{when} web{i % 7} app[{i % 50}]: {level} request seq={i} took {i % 13}ms\n")
    return path


def stored_seqs(db: Path) -> tuple[int, int]:
    """(rows, distinct seq numbers) of ``logs`` in the store file, read read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT count(*), count(DISTINCT regexp_extract(raw, 'seq=(\\d+)', 1)) FROM logs"
        ).fetchone()
    finally:
        con.close()


def segment_files(db: Path) -> list[Path]:
    """Every file under the store's history folder (committed or not)."""
    root = db.with_name(db.name + ".data") / "history"
    return sorted(p for p in root.rglob("*") if p.is_file())
