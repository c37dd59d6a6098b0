"""Compaction merges a streaming source's small segments while ingest and queries go on,
and every query answers the same before and after."""

from __future__ import annotations

import threading

from opsengine import Engine
from opsengine.store.compaction import compact

from tests.support.segment_files import segment_files

NAMED = [
    ("error_rate", {"from": "2000-01-01", "to": "2030-01-01"}),
    ("log_volume", {"from": "2000-01-01", "to": "2030-01-01"}),
    ("top_rules", {"from": "2000-01-01", "to": "2030-01-01"}),
]


def _lines(batch: int, n: int = 40) -> list[str]:
    return [
        f"2024-05-10T10:{batch % 60:02d}:{i % 60:02d}Z web{i % 3} sshd[{i}]: "
        f"Failed password for root from 10.0.{batch}.{i} port 22 ssh2 batch={batch}"
        if i % 5 == 0
        else f"2024-05-10T10:{batch % 60:02d}:{i % 60:02d}Z web{i % 3} app[{i}]: ok batch={batch}"
        for i in range(n)
    ]


def _answers(engine: Engine, max_id: int, *, named: bool = True) -> dict:
    out = {
        "logs": engine.query("SELECT * FROM logs WHERE id <= ? ORDER BY id", [max_id]).to_pylist(),
        "events": engine.query(
            "SELECT * EXCLUDE (fields), map_entries(fields) AS f FROM events "
            "WHERE log_id <= ? ORDER BY log_id, rule",
            [max_id],
        ).to_pylist(),
    }
    for name, params in NAMED if named else ():
        out[name] = engine.named_query(name, **params).to_pylist()
    return out


def test_compaction_merges_small_segments_with_identical_answers_while_ingest_continues(
    tmp_path,
):
    db = tmp_path / "ops.duckdb"
    with Engine(db, admin_channel=False) as engine:
        for batch in range(30):  # what a tailer flushing every second leaves: tiny files
            engine.ingest_logs(_lines(batch), source="tail")
        max_id = engine.query("SELECT max(id) AS m FROM logs").column("m")[0].as_py()
        before = _answers(engine, max_id, named=False)
        files_before = len(segment_files(db))
        assert files_before == 60  # one logs and one events file per batch

        failures: list[BaseException] = []

        def keep_ingesting_and_querying():
            try:
                for batch in range(30, 40):
                    engine.ingest_logs(_lines(batch), source="tail")
                    engine.query("SELECT count(*) FROM logs JOIN events ON id = log_id")
            except BaseException as e:  # reported below
                failures.append(e)

        other = threading.Thread(target=keep_ingesting_and_querying)
        other.start()
        report = compact(engine.store)
        other.join()
        assert not failures
        assert report.merged_files >= 60 - 2 and report.skipped_groups == 0

        assert _answers(engine, max_id, named=False) == before  # the rows merged under ingest
        total = engine.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM logs")
        assert total.to_pylist() == [{"n": 40 * 40, "d": 40 * 40}]

        engine.store.history.remove_retired(all_now=True)
        catalogued = {
            r["path"] for r in engine.query("SELECT path FROM history_segments").to_pylist()
        }
        on_disk = {p.relative_to(engine.store.history.root).as_posix() for p in segment_files(db)}
        assert catalogued == on_disk
        assert len(on_disk) < files_before

        # Quiet now: every answer, named queries included, is the same across a compaction.
        everything = _answers(engine, 10**9)
        assert compact(engine.store).merged_files >= 2
        engine.store.history.remove_retired(all_now=True)  # the replaced files are gone
        assert _answers(engine, 10**9) == everything
