"""The in-memory incident index answers exactly what the store answers.

A real store with a few thousand incidents (many sharing a ``detected_at``, so the id
tie-break and the keyset cursor are exercised) is listed through the service with the
index loaded and through a service without it (the SQL path); the answers must be equal
for hundreds of random filter and cursor combinations — after the load, after operator
actions and alert correlation changed incidents, after rolled-back transactions, and when
writes commit while the index is still loading.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from opsengine.engine import Engine
from opsengine.incidents import IncidentError, IncidentService, InvalidTransition
from opsengine.incidents.model import STATES

from tests.support.api_helpers import RunningEngine, running_api
from tests.support.incidents_helpers import DAY, alert

SEEDED = 3_000
SERVICES = [f"svc-{i}" for i in range(8)]
HOSTS = [f"host-{i}" for i in range(20)]
FINGERPRINTS = [f"fp-{i}" for i in range(40)]
PRIORITIES = ["P1", "P2", "P3", "P4", "P5"]


def seed_incidents(engine: Engine, count: int, rng: random.Random) -> None:
    """``count`` incidents written straight into the table (as a restart finds them): 600
    distinct minutes for 3,000 incidents, so most share a detected_at with others."""
    times = [
        DAY - timedelta(hours=12) + timedelta(minutes=rng.randrange(600)) for _ in range(count)
    ]
    states = [rng.choice(STATES) for _ in range(count)]
    table = pa.table(
        {
            "id": pa.array(range(1, count + 1), pa.int64()),
            "fingerprint": [rng.choice(FINGERPRINTS) for _ in range(count)],
            "priority": [rng.choice(PRIORITIES) for _ in range(count)],
            "state": states,
            "service": [rng.choice([*SERVICES, None]) for _ in range(count)],
            "host": [rng.choice([*HOSTS, None]) for _ in range(count)],
            "assignee": [rng.choice(["ana", "bo", None]) for _ in range(count)],
            "detected_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "resolved_at": pa.array(
                [t + timedelta(minutes=30) if s in ("resolved", "closed") else None
                 for t, s in zip(times, states, strict=True)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )  # fmt: skip
    with engine.store.transaction() as cur:
        cur.register("seed", table)
        cur.execute(
            """INSERT INTO incidents (id, fingerprint, rule, title, category, impact, urgency,
                priority, state, service, host, labels, assignee, alert_count, auto_resolve,
                flap_count, flapping, suppressed_by, known_error_id, started_at, detected_at,
                acknowledged_at, resolved_at, closed_at, last_seen_at, updated_at)
            SELECT id, fingerprint, 'rule-' || fingerprint, 'seeded ' || id::VARCHAR, 'error',
                'medium', 'medium', priority, state, service, host,
                CASE WHEN id % 5 = 0 THEN NULL
                     ELSE MAP(['env', 'team'], ['prod', coalesce(service, 'none')]) END,
                assignee, 1 + id % 3, true, 0, false, NULL, NULL,
                detected_at - INTERVAL 1 MINUTE, detected_at, NULL, resolved_at, NULL,
                detected_at, detected_at
            FROM seed"""
        )
        cur.unregister("seed")


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "index.duckdb", admin_channel=False) as e:
        seed_incidents(e, SEEDED, random.Random(6))
        yield e


def loaded(engine: Engine) -> IncidentService:
    index = engine.incidents.load_index()
    assert index.wait(60), index.error
    assert engine.incidents.lists_from_memory
    return engine.incidents


def store_answer(engine: Engine, **query: Any) -> list[dict[str, Any]]:
    """The SQL path's answer: a service over the same store without an index."""
    return IncidentService(engine.store, engine.settings.incidents).list(**query)


def random_query(rng: random.Random, times: list[datetime], top_id: int) -> dict[str, Any]:
    query: dict[str, Any] = {"limit": rng.choice([1, 2, 7, 50, 200, 1001])}
    if rng.random() < 0.5:
        query["state"] = rng.choice(
            ["open", *STATES, ["resolved", "closed"], ("triggered", "closed")]
        )
    for column, values in (
        ("priority", PRIORITIES),
        ("service", SERVICES),
        ("host", HOSTS),
        ("fingerprint", FINGERPRINTS),
    ):
        if rng.random() < 0.2:
            query[column] = rng.choice([*values, "no-such-value"])
    nudge = [timedelta(0), timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)]
    if rng.random() < 0.3:
        query["since"] = rng.choice(times) + rng.choice(nudge)
    if rng.random() < 0.3:
        query["until"] = rng.choice(times) + rng.choice(nudge)
    if rng.random() < 0.4:
        query["before"] = (rng.choice(times) + rng.choice(nudge), rng.randrange(-1, top_id + 2))
    return query


def assert_same_answers(engine: Engine, rng: random.Random, rounds: int) -> int:
    """Random queries, each compared with the store; returns how many found something."""
    service = engine.incidents
    times = [r["detected_at"] for r in store_answer(engine, limit=1001)]
    top_id = max(r["id"] for r in store_answer(engine, limit=1001))
    found_any = 0
    for _ in range(rounds):
        query = random_query(rng, times, top_id)
        expected = store_answer(engine, **query)
        assert service.list(**query) == expected, query
        found_any += bool(expected)
    return found_any


def assert_same_pages(engine: Engine, limit: int = 173, **filters: Any) -> int:
    """Walk every page with the keyset cursor; returns how many rows were listed."""
    before, seen = None, 0
    while True:
        query = {**filters, "limit": limit, "before": before}
        page = engine.incidents.list(**query)
        assert page == store_answer(engine, **query), query
        seen += len(page)
        if len(page) < limit:
            return seen
        before = (page[-1]["detected_at"], page[-1]["id"])


def test_lists_from_memory_equal_the_store_for_random_filters_and_cursors(engine):
    assert not engine.incidents.lists_from_memory  # not loaded: the store answers
    loaded(engine)
    assert engine.incidents.index.health() == {"status": "ok", "state": "ready",
                                                "incidents": SEEDED}  # fmt: skip
    found = assert_same_answers(engine, random.Random(1), rounds=300)
    assert found > 100  # the filters hit real incidents, not only empty answers
    assert assert_same_pages(engine) == SEEDED
    assert assert_same_pages(engine, limit=50, state="open", host="host-3") > 0
    assert assert_same_pages(engine, limit=9, service="svc-2", priority="P1") > 0


def test_answers_are_copies_and_bad_filters_are_refused_as_before(engine):
    service = loaded(engine)
    first = service.list(limit=1)[0]
    first["state"] = "mangled"
    if first["labels"] is not None:
        first["labels"]["env"] = "mangled"
    assert service.list(limit=1) == store_answer(engine, limit=1)
    with pytest.raises(IncidentError, match="state must be one of open"):
        service.list(state="asleep")
    with pytest.raises(IncidentError, match="limit must be"):
        service.list(limit=0)
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        service.list(since=datetime(2026, 3, 1))


def test_operator_actions_and_alert_correlation_keep_the_index_exact(engine):
    service = loaded(engine)
    rng = random.Random(2)
    actions = 0
    for step in range(150):
        incident_id = rng.randrange(1, SEEDED + 1)
        at = DAY + timedelta(minutes=step)
        try:
            match rng.randrange(7):
                case 0:
                    service.acknowledge(incident_id, actor="ana", at=at)
                case 1:
                    service.resolve(incident_id, actor="ana", at=at, note="fixed")
                case 2:
                    service.close(incident_id, actor="bo", at=at)
                case 3:
                    service.reopen(incident_id, actor="bo", at=at)
                case 4:
                    service.assign(incident_id, rng.choice(["ana", "bo", None]), actor="ana")
                case 5:
                    levels = ("high", "medium", "low")
                    service.set_priority(
                        incident_id, impact=rng.choice(levels), urgency=rng.choice(levels),
                        actor="ana",
                    )  # fmt: skip
                case _:
                    service.mark_suppressed(incident_id, f"silence {step}", at)
            actions += 1
        except InvalidTransition:
            pass
    # Hand-opened incidents, some at a time other incidents already have (ties on the key).
    for i in range(20):
        service.create(f"phone call {i}", actor="desk", host=rng.choice(HOSTS),
                       at=DAY - timedelta(hours=12) + timedelta(minutes=rng.randrange(600)))  # fmt: skip
    # Alerts: open, repeat, group and auto-resolve incidents through the correlator.
    for minute, (rule, state, host) in enumerate(
        [("disk", "firing", "host-1"), ("cpu", "firing", "host-1"), ("disk", "firing", "host-2"),
         ("disk", "resolved", "host-1"), ("cpu", "resolved", "host-1"), ("mem", "firing", "web")]
    ):  # fmt: skip
        ts = f"{13 + minute // 60:02d}:{minute % 60:02d}"
        engine.alerts.publish(alert(ts, rule, state, "13:00", {"host": host}))
    assert actions > 50
    changed = store_answer(engine, limit=1001, since=DAY)
    assert any(r["state"] == "resolved" and r["rule"] == "disk" for r in changed)
    assert assert_same_answers(engine, random.Random(3), rounds=200) > 60
    assert assert_same_pages(engine) == SEEDED + 20 + 3  # 3 incidents opened by alerts


def test_a_rolled_back_write_leaves_the_index_as_it_was(engine):
    service = loaded(engine)
    target = service.list(limit=1, state="triggered")[0]
    query = {"host": target["host"], "limit": 1001}
    before = service.list(**query)

    with pytest.raises(RuntimeError, match="changed my mind"), service.transaction() as cur:
        service.set_state(cur, target, "closed", datetime.now(UTC), "tester")
        service.update_incident(cur, target["id"], assignee="x")
        raise RuntimeError("changed my mind")
    with pytest.raises(duckdb.ConstraintException), service.transaction() as cur:
        service.update_incident(cur, target["id"], assignee="y")
        service.update_incident(cur, target["id"], priority=None)  # NOT NULL
    assert service.list(**query) == before == store_answer(engine, **query)
    assert service.row(target["id"])["state"] == "triggered"

    # The next committed write is applied as usual.
    service.assign(target["id"], "ana", actor="bo")
    assert service.list(**query) == store_answer(engine, **query) != before


def test_incident_rows_are_written_only_inside_the_service_transaction(engine):
    loaded(engine)
    with engine.store.transaction() as cur, pytest.raises(RuntimeError, match="only in"):
        engine.incidents.update_incident(cur, 1, assignee="sneaky")
    assert engine.incidents.row(1)["assignee"] != "sneaky"


def test_update_incident_sets_only_plain_columns(engine):
    # State moves go through set_state (timestamps, timeline); SQL never comes in as text.
    loaded(engine)
    with engine.incidents.transaction() as cur, pytest.raises(ValueError, match="'state'"):
        engine.incidents.update_incident(cur, 1, state="closed")
    assert engine.incidents.row(1)["state"] != "closed"


def test_writes_that_commit_while_the_index_loads_are_not_lost(engine):
    service = engine.incidents
    # Holding the write lock, the loader reads its snapshot but cannot finish: these
    # writes commit while it loads and are queued until it does.
    with engine.store.write_lock:
        index = service.load_index()
        opened = service.create("during the load", actor="desk", host="host-1")
        service.assign(1, "late", actor="desk")
        assert not index.ready
    assert index.wait(60), index.error
    assert service.list(limit=1, host="host-1")[0]["id"] == opened
    assert service.row(1)["assignee"] == "late"
    assert assert_same_pages(engine, limit=997) == SEEDED + 1


def test_a_table_the_index_cannot_hold_falls_back_to_the_store(tmp_path):
    with Engine(tmp_path / "odd.duckdb", admin_channel=False) as engine:
        seed_incidents(engine, 50, random.Random(4))
        with engine.store.transaction() as cur:
            cur.execute("UPDATE incidents SET id = -7 WHERE id = 3")  # ids are never negative
        index = engine.incidents.load_index()
        assert not index.wait(60)
        assert index.health()["status"] == "degraded" and "-7" in index.health()["error"]
        assert not engine.incidents.lists_from_memory
        assert engine.incidents.list(limit=1001) == store_answer(engine, limit=1001)
        assert len(engine.incidents.list(limit=1001)) == 50


def test_an_index_that_cannot_catch_up_is_given_up_rather_than_served_stale(engine):
    service = loaded(engine)
    target = service.list(limit=1, state="triggered")[0]["id"]
    with engine.store.transaction() as cur:  # a schema change behind the index's back
        cur.execute("ALTER TABLE incidents RENAME COLUMN known_error_id TO known_error")
    service.acknowledge(target, actor="ana")  # committed; the index cannot re-read the row
    assert not service.lists_from_memory
    assert service.index.health()["status"] == "degraded"
    assert "known_error_id" in service.index.health()["error"]
    answer = service.list(limit=5, state="acknowledged", host=service.row(target)["host"])
    assert target in [r["id"] for r in answer]
    assert answer == store_answer(engine, limit=5, state="acknowledged",
                                  host=service.row(target)["host"])  # fmt: skip


def test_the_api_pages_the_same_from_memory_as_from_the_store(tmp_path):
    with running_api(tmp_path) as api:
        seed_incidents(api.engine, 400, random.Random(5))
        loaded(api.engine)
        urls = [
            "/api/v1/incidents?limit=7",
            "/api/v1/incidents?limit=50&state=open",
            "/api/v1/incidents?limit=3&host=host-4&from=2026-03-01T14:00:00Z&to=2026-03-01T20:00:00Z",
            "/api/v1/incidents?priority=P2&service=svc-1",
        ]

        def walk(url: str) -> list[dict]:
            pages, cursor = [], None
            while True:
                body = api.get(url + (f"&cursor={cursor}" if cursor else ""), role="viewer")
                assert body.status_code == 200, body.text
                pages.append(body.json())
                cursor = pages[-1]["next_cursor"]
                if cursor is None:
                    return pages

        from_memory = [walk(url) for url in urls]
        index, api.engine.incidents.index = api.engine.incidents.index, None
        from_store = [walk(url) for url in urls]
        api.engine.incidents.index = index
        assert from_memory == from_store
        assert sum(len(p["items"]) for p in from_memory[0]) == 400
        assert len(from_memory[0]) > 1 and all(len(w) >= 1 for w in from_memory)


def test_opsengine_run_loads_the_index_and_reports_it_on_health(tmp_path):
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        seed_incidents(engine, 120, random.Random(7))
    server = RunningEngine(tmp_path, "--db", str(tmp_path / "ops.duckdb"))
    try:
        deadline = time.monotonic() + 60
        while True:  # the load runs in the background; /health says when it is done
            _, health = server.call("GET", "/health", server.token)
            component = health["components"]["incident_index"]
            if component["detail"]["state"] != "loading" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert component == {"status": "ok", "detail": {"state": "ready", "incidents": 120}}
        status, page = server.call("GET", "/api/v1/incidents?limit=5&state=open", server.token)
        assert status == 200, page
        assert len(page["items"]) == 5
        assert all(i["state"] in ("triggered", "acknowledged") for i in page["items"])
    finally:
        server.stop()


def test_a_write_while_the_loader_starts_reaches_the_index(tmp_path, monkeypatch):
    """A write that commits after the loader took its snapshot, but before ``load_index``
    returned, must still be applied (the service knows its index before the loader runs)."""
    from opsengine.incidents import index as index_mod

    with Engine(tmp_path / "r.duckdb", admin_channel=False) as engine:
        service = engine.incidents
        incident_id = service.create("disk", actor="desk", host="h1")
        original_start = index_mod.IncidentIndex.start

        def start(self):
            out = original_start(self)  # the loader thread runs …
            assert self.wait(60)  # … and has taken its snapshot
            service.assign(incident_id, "ana", actor="desk")  # a write commits now
            return out

        monkeypatch.setattr(index_mod.IncidentIndex, "start", start)
        service.load_index()
        assert service.lists_from_memory
        assert service.list(limit=1)[0]["assignee"] == "ana"
