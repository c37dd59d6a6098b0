"""The incident, notification and problem endpoints over HTTP with real keys per role."""

from __future__ import annotations

from tests.support.api_helpers import PROBLEM_JSON, running_api
from tests.support.incidents_helpers import alert


def test_operators_act_on_incidents_and_viewers_only_read(tmp_path):
    with running_api(tmp_path) as api:
        api.engine.alerts.publish(alert("10:00", "disk_full", "firing", "09:58", {"host": "fs1"},
                                        severity="high"))  # fmt: skip
        assert api.client.get("/api/v1/incidents").status_code == 401
        listed = api.get("/api/v1/incidents", role="viewer")
        assert listed.status_code == 200
        [inc] = listed.json()["items"]
        assert (inc["id"], inc["priority"], inc["state"]) == (1, "P2", "triggered")
        assert api.post("/api/v1/incidents/1/acknowledge", role="viewer").status_code == 403

        acked = api.post("/api/v1/incidents/1/acknowledge", role="operator")
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
        note = api.post("/api/v1/incidents/1/notes", role="operator", json={"text": "on it"})
        assert note.status_code == 201
        closing = api.post("/api/v1/incidents/1/close", role="operator")
        assert closing.status_code == 409
        assert closing.headers["content-type"].startswith(PROBLEM_JSON)
        assert closing.json()["detail"].startswith(
            "incident 1: cannot move from acknowledged to closed"
        )
        missing = api.post("/api/v1/incidents/99/acknowledge", role="operator")
        assert missing.status_code == 404 and "incident 99" in missing.json()["detail"]
        unknown_field = api.post("/api/v1/incidents/1/notes", role="operator", json={"txt": "x"})
        assert unknown_field.status_code in (400, 422)
        assert api.post("/api/v1/incidents/1/resolve", role="operator",
                        json={"note": "freed 20 GB"}).status_code == 200  # fmt: skip
        timeline = api.get("/api/v1/incidents/1/timeline", role="viewer").json()
        assert timeline[-1]["detail"] == {
            "from": "acknowledged",
            "to": "resolved",
            "note": "freed 20 GB",
        }
        operator_key = api.services.keys.list()[1].id
        assert [(e["actor"], e["kind"]) for e in timeline][-3:] == [
            (f"key:{operator_key}", "state"),
            (f"key:{operator_key}", "note"),
            (f"key:{operator_key}", "state"),
        ]
        review = api.get("/api/v1/incidents/1/review?format=markdown", role="viewer")
        assert review.json()["markdown"].startswith("# Post-incident review: #1")
        kpis = api.get("/api/v1/incidents/kpis?from=2026-03-01&to=2026-03-03", role="viewer")
        assert kpis.json()["mttd"]["mean_seconds"] == 120.0


def test_silences_schedules_policies_and_problems_over_http(tmp_path):
    with running_api(tmp_path) as api:
        made = api.post("/api/v1/silences", role="operator", json={
            "matchers": ["host=~web.*"], "ends_at": "2h", "comment": "deploy"})  # fmt: skip
        assert made.status_code == 201
        bad = api.post("/api/v1/silences", role="operator", json={
            "matchers": ["host=~web["], "ends_at": "2h", "comment": "x"})  # fmt: skip
        assert bad.status_code == 422 and "invalid regex" in bad.json()["detail"]
        assert len(api.get("/api/v1/silences?active=true", role="viewer").json()) == 1

        schedule = {"members": ["ann", "ben"], "start_date": "2026-03-01", "rotation": "daily"}
        assert api.client.put("/api/v1/schedules/ops", json=schedule,
                              headers=api.auth("operator")).status_code == 403  # fmt: skip
        assert api.client.put("/api/v1/schedules/ops", json=schedule,
                              headers=api.auth("admin")).status_code == 200  # fmt: skip
        who = api.get("/api/v1/oncall?at=2026-03-02T12:00:00Z", role="viewer")
        assert who.json() == {"ops": "ben"}

        policy = {"levels": [{"targets": ["oncall:ops"], "delay": "5m"}]}
        put = api.client.put("/api/v1/escalation-policies/default", json=policy,
                             headers=api.auth("admin"))  # fmt: skip
        assert put.status_code == 200 and put.json()["levels"][0]["delay"] == 300.0
        wrong = {"levels": [{"targets": ["pager:x"]}]}
        refused = api.client.put("/api/v1/escalation-policies/x", json=wrong, headers=api.auth())
        assert refused.status_code == 422 and "levels[0].targets[0]" in refused.json()["detail"]

        channel = {"kind": "slack", "config": {"url": "https://hooks.example/T/B/secret"}}
        assert api.client.put("/api/v1/notification-channels/s", json=channel,
                              headers=api.auth()).status_code == 200  # fmt: skip
        shown = api.get("/api/v1/notification-channels").json()
        assert shown[0]["config"]["url"] == "https://hooks.example/…"

        api.engine.alerts.publish(alert("10:00", "oom", "firing", "10:00", {"host": "a"}))
        problem = api.post("/api/v1/problems", role="operator",
                           json={"title": "Memory leak", "incident_ids": [1]})  # fmt: skip
        assert problem.status_code == 201 and problem.json()["incidents"] == [1]
        unknown = api.post("/api/v1/problems", role="operator",
                           json={"title": "x", "incident_ids": [7]})  # fmt: skip
        assert unknown.status_code == 404
        assert len(api.get("/api/v1/problems", role="viewer").json()) == 1
        ke = api.post("/api/v1/known-errors", role="operator", json={
            "title": "Leak in v2.3", "symptoms": "RSS grows", "rules": ["oom"]})  # fmt: skip
        assert ke.status_code == 201 and ke.json()["rules"] == ["oom"]


def test_incident_lists_are_paged_newest_first(tmp_path):
    with running_api(tmp_path) as api:
        for minute, host in (("10:00", "a"), ("10:10", "b"), ("10:20", "c")):
            api.engine.alerts.publish(alert(minute, "down", "firing", minute, {"host": host}))
        first = api.get("/api/v1/incidents?limit=2", role="viewer").json()
        assert [i["host"] for i in first["items"]] == ["c", "b"]
        rest = api.get(f"/api/v1/incidents?limit=2&cursor={first['next_cursor']}", role="viewer")
        assert [i["host"] for i in rest.json()["items"]] == ["a"]
        assert rest.json()["next_cursor"] is None
        bad = api.get("/api/v1/incidents?state=asleep", role="viewer")
        assert bad.status_code == 422 and "state must be one of" in bad.json()["detail"]
