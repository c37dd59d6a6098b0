"""pytest-benchmark entry points for the store stage: opsengine's logs+events append against
a plain DuckDB ``INSERT … SELECT`` of the same Arrow rows (the ceiling).

Run: ``pytest python/opsengine/bench/bench_store.py --benchmark-only`` (``opsengine bench`` prints the
same comparison as lines/s, with the end-to-end ingest beside it).
"""

from __future__ import annotations

import duckdb
import pytest

from opsengine.bench.corpus import find_loghub, loghub_lines, replicated
from opsengine.ingest.log_templates import LogTemplates
from opsengine.ingest.logs import LogIngestor
from opsengine.rules import RuleSet
from opsengine.store import Store

try:
    LOGHUB = find_loghub()
except FileNotFoundError as e:  # pragma: no cover - depends on the checkout
    pytest.skip(str(e), allow_module_level=True)

BLOCK = 32_768


@pytest.fixture(scope="module")
def block():
    return replicated(loghub_lines(LOGHUB), 4 * 10**6).slice(0, BLOCK)


def test_opsengine_store_stage(benchmark, block, tmp_path):
    with Store(tmp_path / "ours.duckdb") as store:
        ingestor = LogIngestor(store, RuleSet.default(), templates=LogTemplates(store))
        prepared = ingestor.prepare(block)
        benchmark.extra_info["lines"] = len(block)
        benchmark(ingestor.store_batch, prepared, source="bench")


def test_duckdb_insert_select_ceiling(benchmark, block, tmp_path):
    with Store(tmp_path / "ours.duckdb") as store:
        ingestor = LogIngestor(store, RuleSet.default())
        ingestor.store_batch(ingestor.prepare(block), source="bench")
        logs = store.query("SELECT * FROM logs")
        events = store.query("SELECT * FROM events")
    con = duckdb.connect(str(tmp_path / "ceiling.duckdb"))
    con.register("b_logs", logs)
    con.register("b_events", events)
    con.execute("CREATE TABLE logs AS SELECT * FROM b_logs LIMIT 0")
    con.execute("CREATE TABLE events AS SELECT * FROM b_events LIMIT 0")

    def insert():
        con.execute("BEGIN")
        con.execute("INSERT INTO logs SELECT * FROM b_logs")
        con.execute("INSERT INTO events SELECT * FROM b_events")
        con.execute("COMMIT")

    benchmark.extra_info["lines"] = len(block)
    benchmark(insert)
    con.close()
