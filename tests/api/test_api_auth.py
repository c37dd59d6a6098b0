"""Who may call the API: tokens, roles, revocation, rate limits, the audit log, open routes."""

from __future__ import annotations

import hashlib

import pytest
from litestar import Controller, get
from opsengine.api import create_app
from opsengine.api.app import UnguardedRouteError
from opsengine.engine import Engine
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api_helpers import api_settings, assert_problem, running_api


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


@pytest.mark.parametrize(
    "headers, why",
    [
        ({}, "no Authorization header"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "not 'Bearer <token>'"),
        ({"Authorization": "Bearer not-a-token"}, "malformed token"),
        ({"Authorization": "Bearer oek_0123456789ab_" + "A" * 43}, "unknown key 0123456789ab"),
    ],
)
def test_a_request_without_a_valid_token_gets_401_and_is_audited(api, headers, why):
    r = api.client.get("/api/v1/logs", headers=headers)
    body = assert_problem(r, 401)
    assert why in body["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    audit = api.get("/api/v1/audit?outcome=unauthenticated").json()["items"]
    assert [(a["action"], a["status"], a["detail"]) for a in audit] == [
        ("GET /api/v1/logs", 401, body["detail"].removeprefix("authentication failed: "))
    ]
    assert "not-a-token" not in str(audit) and "AAAA" not in str(audit)


def test_a_wrong_secret_for_a_real_key_is_refused(api):
    real = api.tokens["admin"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    r = api.client.get("/api/v1/logs", headers={"Authorization": f"Bearer {forged}"})
    assert "wrong secret" in assert_problem(r, 401)["detail"]


def test_roles_are_enforced_on_every_kind_of_route(api):
    # viewer reads, cannot ingest; operator ingests, cannot run SQL or manage keys
    assert api.get("/api/v1/logs", role="viewer").status_code == 200
    r = api.post("/api/v1/ingest/logs", role="viewer", content=b"x\n")
    assert "needs the operator role" in assert_problem(r, 403)["detail"]
    assert api.post("/api/v1/ingest/logs", role="operator", content=b"x\n").status_code == 200
    assert_problem(api.post("/api/v1/sql", role="operator", json={"sql": "SELECT 1"}), 403)
    assert_problem(api.get("/api/v1/keys", role="operator"), 403)
    assert_problem(api.post("/api/v1/rules/reload", role="operator"), 403)
    assert api.post("/api/v1/sql", role="admin", json={"sql": "SELECT 1"}).status_code == 200


def test_keys_are_created_shown_once_stored_hashed_and_revoked(api):
    r = api.post("/api/v1/keys", json={"role": "viewer", "name": "grafana"})
    assert r.status_code == 201, r.text
    created = r.json()
    token, key_id = created["token"], created["key"]["id"]
    assert created["key"]["role"] == "viewer" and token.startswith(f"oek_{key_id}_")
    # the list never shows a token; the table holds only the hash
    listed = api.get("/api/v1/keys").json()
    assert key_id in [k["id"] for k in listed] and token not in str(listed)
    stored = api.engine.query("SELECT * FROM api_keys WHERE id = ?", [key_id]).to_pylist()[0]
    assert stored["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored)
    # the new key works, as a viewer
    as_new = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/logs", headers=as_new).status_code == 200
    assert_problem(api.client.get("/api/v1/keys", headers=as_new), 403)
    # revoked: the next request with it fails
    r = api.delete(f"/api/v1/keys/{key_id}")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert (
        "revoked" in assert_problem(api.client.get("/api/v1/logs", headers=as_new), 401)["detail"]
    )
    assert_problem(api.delete("/api/v1/keys/ffffffffffff"), 404)
    # the last active admin key cannot be revoked: nobody could manage keys after it
    own = api.tokens["admin"].split("_")[1]
    assert (
        "last active admin key" in assert_problem(api.delete(f"/api/v1/keys/{own}"), 409)["detail"]
    )
    assert api.get("/api/v1/keys").status_code == 200


def test_key_creation_validates_its_body(api):
    assert_problem(api.post("/api/v1/keys", json={"role": "root"}), 422, field="$.role")
    assert_problem(api.post("/api/v1/keys", json={"role": "viewer", "x": 1}), 422, field="$.x")
    assert_problem(api.post("/api/v1/keys", json={"name": "no role"}), 422, field="$.role")
    assert_problem(api.post("/api/v1/keys", json={"role": 5}), 422, field="$.role")
    r = api.post("/api/v1/keys", content=b"{bad", headers={"content-type": "application/json"})
    assert "malformed" in assert_problem(r, 400)["detail"]
    assert_problem(api.get("/api/v1/logs?limit=5000"), 422, field="query:limit")


def test_writes_are_audited_with_who_what_and_outcome(api):
    api.post("/api/v1/ingest/logs?source=s", role="operator", content=b"a line\n")
    api.post("/api/v1/ingest/logs", role="viewer", content=b"denied\n")
    api.get("/api/v1/logs", role="viewer")  # reads are not audited
    rows = api.get("/api/v1/audit").json()["items"]
    seen = [(a["actor"], a["role"], a["action"], a["outcome"], a["status"]) for a in rows]
    op, viewer = (f"key:{api.tokens[r].split('_')[1]}" for r in ("operator", "viewer"))
    assert seen == [
        (viewer, "viewer", "POST /api/v1/ingest/logs", "denied", 403),
        (op, "operator", "POST /api/v1/ingest/logs", "ok", 200),
    ]
    assert all(a["client"] for a in rows)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(tmp_path):
    with running_api(tmp_path, api_settings(rate_limit=5)) as api:
        statuses = [api.get("/api/v1/logs", role="viewer").status_code for _ in range(30)]
        assert statuses[:10] == [200] * 10  # the burst is twice the rate
        assert 429 in statuses
        r = api.get("/api/v1/logs", role="viewer")
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        # another key has its own bucket
        assert api.get("/api/v1/logs", role="operator").status_code == 200


def test_health_metrics_and_openapi_need_no_token(api):
    health = api.client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["components"]["store"]["status"] == "ok"
    assert body["components"]["ingest_queue"]["detail"]["capacity"] >= 1

    api.post("/api/v1/ingest/logs", role="operator", content=b"one\ntwo\n")
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    accepted = [
        s.value
        for s in families["opsengine_ingest_records"].samples
        if s.name.endswith("_total") and s.labels == {"kind": "logs", "outcome": "accepted"}
    ]
    assert accepted == [2.0]
    assert "opsengine_http_request_duration_seconds" in families
    assert "opsengine_ingest_queue_depth" in families
    assert "opsengine_store_append_seconds" in families

    doc = api.client.get("/schema/openapi.json")
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    for path in ("/api/v1/logs", "/api/v1/ingest/logs", "/api/v1/keys", "/health"):
        assert path in paths
    assert doc.json()["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


def test_an_unknown_route_is_a_problem_404(api):
    assert_problem(api.get("/api/v1/nothing-here"), 404)


def test_an_api_route_without_a_role_guard_is_refused_at_start(tmp_path):
    class Careless(Controller):
        path = "/api/v1/careless"

        @get("/")
        def open_door(self) -> str:
            return "oops"

    from opsengine.api import app as app_module

    engine = Engine(tmp_path / "ops.duckdb", api_settings(), admin_channel=False)
    app_module.CONTROLLERS.append(Careless)
    try:
        with pytest.raises(UnguardedRouteError, match="/api/v1/careless"):
            create_app(engine)
    finally:
        app_module.CONTROLLERS.remove(Careless)
        engine.close()
