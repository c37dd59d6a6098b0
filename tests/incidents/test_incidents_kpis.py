"""KPIs beside each other: MTTD/MTTA/MTTR from incidents and uptime per service from the
probes' results, through the Python API and ``opsengine incidents kpis``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta

from opsengine.engine import Engine
from opsengine.kpi import incident_kpis, uptime_by_service
from opsengine.sources.probes import ProbeCheck, Prober, run_check

from tests.support.incidents_helpers import alert, at
from tests.support.sources_net import closed_port


def _record_a_morning_of_probes(engine: Engine) -> None:
    """api: a listener that goes away for the last of 4 checks; db: refused twice of 2."""
    listener = socket.create_server(("127.0.0.1", 0))
    api = ProbeCheck.from_dict(
        {"name": "api", "tcp": f"127.0.0.1:{listener.getsockname()[1]}"}, where="test"
    )
    db = ProbeCheck.from_dict({"name": "db", "tcp": f"127.0.0.1:{closed_port()}"}, where="test")
    prober = Prober(engine.store, engine.alerts, [api, db])
    try:
        for minute in range(3):
            prober.record(api, run_check(api, at("09:00") + timedelta(minutes=minute)))
    finally:
        listener.close()
    prober.record(api, run_check(api, at("09:03")))
    for minute in range(2):
        prober.record(db, run_check(db, at("09:00") + timedelta(minutes=minute)))
    # Outside the range asked for below: must not count.
    prober.record(db, run_check(db, at("09:00") - timedelta(days=2)))


def test_uptime_per_service_is_a_kpi_beside_mttd_mtta_mttr(tmp_path):
    with Engine(tmp_path / "k.duckdb", admin_channel=False) as engine:
        _record_a_morning_of_probes(engine)
        engine.alerts.publish(alert("10:00", "http_5xx", "firing", "09:58", {"service": "web"}))
        [web] = engine.incidents.list(service="web")
        engine.incidents.acknowledge(web["id"], actor="ann", at=at("10:05"))
        engine.incidents.resolve(web["id"], actor="ann", at=at("10:30"))
        start, end = at("00:00"), at("00:00") + timedelta(days=1)

        uptime = {u["service"]: u for u in uptime_by_service(engine.store, start, end)}
        assert (uptime["api"]["checks"], uptime["api"]["passed"]) == (4, 3)
        assert uptime["api"]["uptime_percent"] == 75.0 and uptime["api"]["last_ok"] is False
        assert (uptime["db"]["checks"], uptime["db"]["passed"]) == (2, 0)
        assert uptime["db"]["uptime_percent"] == 0.0

        kpis = incident_kpis(engine.store, start, end)
        # Three incidents: the two probe_down ones (detected at their first failure, as
        # fail_after is 1) and web's, detected two minutes after its first evidence.
        assert kpis["incidents"] == 3
        assert kpis["mttd"] == {"mean_seconds": 40.0, "median_seconds": 0.0, "measured": 3}
        assert (kpis["mtta"]["mean_seconds"], kpis["mtta"]["measured"]) == (300.0, 1)
        assert (kpis["mttr"]["mean_seconds"], kpis["mttr"]["measured"]) == (1800.0, 1)
        # Uptime lists the least available service first.
        assert [u["service"] for u in kpis["uptime"]] == ["db", "api"]
        assert uptime_by_service(engine.store, end, end + timedelta(days=1)) == []


def test_the_kpis_command_prints_uptime_with_the_incident_kpis(tmp_path):
    db = tmp_path / "cli.duckdb"
    with Engine(db, admin_channel=False) as engine:
        _record_a_morning_of_probes(engine)

    def kpis(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "opsengine.cli", "incidents", "kpis", "--db", str(db),
             "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-03T00:00:00Z", *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    as_json = kpis("--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [(u["service"], u["uptime_percent"]) for u in data["uptime"]] == [
        ("db", 0.0),
        ("api", 75.0),
    ]
    text = kpis()
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "uptime:" in lines
    rows = lines[lines.index("uptime:") + 2 :]
    assert [r.split()[:4] for r in rows] == [["db", "0.0", "2", "0"], ["api", "75.0", "4", "3"]]
