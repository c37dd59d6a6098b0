"""``/api/v1/config`` and ``/api/v1/inventory`` through the real app, with real keys per role."""

from __future__ import annotations

from tests.support.api_helpers import assert_problem, running_api
from tests.support.inventory import dpkg_stanza, write_dist, write_status


def test_config_routes_track_snapshot_diff_approve_and_audit(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    for env, port in (("staging", 5432), ("prod", 5432)):
        (etc / f"{env}.yaml").write_text(f"db:\n  host: {env}-db\n  port: {port}\n")
    with running_api(tmp_path) as api:
        assert_problem(api.client.get("/api/v1/config/items"), 401)
        body = {
            "name": "app",
            "paths": [str(etc / "prod.yaml")],
            "env": "prod",
            "vary": ["db.host"],
        }
        assert_problem(api.post("/api/v1/config/items", "operator", json=body), 403)
        created = api.post("/api/v1/config/items", "admin", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["vary"] == ["db.host"]
        staging = {**body, "paths": [str(etc / "staging.yaml")], "env": "staging"}
        assert api.post("/api/v1/config/items", "admin", json=staging).status_code == 201
        assert_problem(
            api.post("/api/v1/config/items", "admin", json={**body, "colour": "red"}), 422,
            field="$.colour",
        )  # fmt: skip
        assert_problem(
            api.post("/api/v1/config/items", "admin", json={**body, "paths": []}), 422,
            field="$.paths",
        )  # fmt: skip

        assert_problem(api.post("/api/v1/config/snapshot", "viewer"), 403)
        snap = api.post("/api/v1/config/snapshot", "operator")
        assert snap.status_code == 200, snap.text
        assert sorted((r["env"], r["version"]) for r in snap.json()) == [
            ("prod", 1),
            ("staging", 1),
        ]
        items = api.get("/api/v1/config/items", "viewer").json()
        assert [(i["name"], i["env"], i["latest_version"]) for i in items] == [
            ("app", "prod", 1), ("app", "staging", 1),
        ]  # fmt: skip

        # The name alone is ambiguous across environments.
        assert_problem(api.get("/api/v1/config/items/app/versions", "viewer"), 422, field="$.env")
        assert_problem(api.get("/api/v1/config/items/nope/versions", "viewer"), 404)
        for env in ("staging", "prod"):
            approved = api.post("/api/v1/config/items/app/approve", "operator", json={"env": env})
            assert approved.status_code == 200, approved.text
        assert_problem(
            api.post("/api/v1/config/items/app/approve", "viewer", json={"env": "prod"}), 403
        )
        assert_problem(
            api.post("/api/v1/config/items/app/approve", "operator",
                     json={"env": "prod", "version": 9}), 404,
        )  # fmt: skip

        (etc / "prod.yaml").write_text("db:\n  host: prod-db\n  port: 6543\n")
        snap = api.post("/api/v1/config/snapshot", "operator", json={"name": "app", "env": "prod"})
        assert [(r["version"], r["changed"]) for r in snap.json()] == [(2, True)]
        versions = api.get("/api/v1/config/items/app/versions", "viewer", params={"env": "prod"})
        operator_id = api.tokens["operator"].split("_")[1]  # oek_<id>_<secret>
        assert [(v["version"], v["author"], v["baseline"]) for v in versions.json()] == [
            (1, f"key:{operator_id}", True), (2, f"key:{operator_id}", False),
        ]  # fmt: skip
        diff = api.get(
            "/api/v1/config/items/app/diff", "viewer", params={"env": "prod", "from": 1, "to": 2}
        ).json()
        assert [(k["key"], k["old"], k["new"]) for k in diff["keys"]] == [
            ("db.port", "5432", "6543")
        ]
        assert "+  port: 6543" in diff["unified"]
        assert_problem(
            api.get("/api/v1/config/items/app/diff", "viewer", params={"env": "prod", "from": 0}),
            422, field="query:from",
        )  # fmt: skip

        drift = api.get("/api/v1/config/drift", "viewer").json()
        assert sorted((d["item"], d["env"], d["kind"]) for d in drift) == [
            ("app", "prod", "baseline"), ("app", "prod", "cross_env"),
        ]  # fmt: skip
        assert [a["rule"] for a in api.get("/api/v1/alerts", "viewer").json()["items"]] == [
            "config_drift"
        ]

        first = api.get("/api/v1/config/audit", "viewer", params={"env": "prod", "limit": 2}).json()
        assert [r["kind"] for r in first["items"]] == ["changed", "approved"]
        rest = api.get(
            "/api/v1/config/audit", "viewer",
            params={"env": "prod", "limit": 2, "cursor": first["next_cursor"]},
        ).json()  # fmt: skip
        assert [r["kind"] for r in rest["items"]] == ["tracked"] and rest["next_cursor"] is None
        assert_problem(
            api.get("/api/v1/config/audit", "viewer", params={"from": "yesterday-ish"}), 422,
            field="query:from",
        )  # fmt: skip

        api.services.audit.flush()
        actions = [r["action"] for r in api.services.audit.recent(limit=100).to_pylist()]
        assert "config approve app (prod) v1" in actions
        assert "POST /api/v1/config/items/app/approve" in actions


def test_inventory_routes_page_software_and_judge_compliance(tmp_path):
    status = write_status(
        tmp_path / "status",
        dpkg_stanza("openssl", "3.0.11-1~deb12u2"),
        dpkg_stanza("bash", "5.2.15-2+b2"),
        dpkg_stanza("curl", "7.88.1-10+deb12u5"),
    )
    site = tmp_path / "site"
    write_dist(site, "requests", "2.32.3")
    with running_api(tmp_path) as api:
        api.engine.inventory.collect(
            host="web-1", kinds=["deb", "python", "cpu", "memory"], dpkg_status=str(status),
            python_paths=[str(site)],
        )  # fmt: skip
        api.engine.inventory.add_policy("openssl >= 3.0.13")
        api.engine.inventory.add_policy("python:requests >= 2.32")
        api.engine.inventory.check()
        assert_problem(api.client.get("/api/v1/inventory/software"), 401)
        page = api.get("/api/v1/inventory/software", "viewer", params={"limit": 3}).json()
        assert [s["name"] for s in page["items"]] == ["bash", "curl", "openssl"]
        rest = api.get(
            "/api/v1/inventory/software",
            "viewer",
            params={"limit": 3, "cursor": page["next_cursor"]},
        ).json()
        assert [(s["kind"], s["name"]) for s in rest["items"]] == [("python", "requests")]
        python = api.get("/api/v1/inventory/software", "viewer", params={"kind": "python"}).json()
        assert [s["version"] for s in python["items"]] == ["2.32.3"]
        assert_problem(
            api.get("/api/v1/inventory/software", "viewer", params={"kind": "cpu"}), 422,
            field="query:kind",
        )  # fmt: skip
        hardware = api.get("/api/v1/inventory/hardware", "viewer", params={"host": "web-1"}).json()
        assert [h["kind"] for h in hardware["items"]] == ["cpu", "memory"]
        violations = api.get(
            "/api/v1/inventory/compliance", "viewer", params={"status": "violation"}
        ).json()
        assert [(c["expression"], c["installed"]) for c in violations] == [
            ("openssl >= 3.0.13", "3.0.11-1~deb12u2")
        ]
        assert len(api.get("/api/v1/inventory/compliance", "viewer").json()) == 2
        assert_problem(
            api.get("/api/v1/inventory/compliance", "viewer", params={"status": "bad"}), 422,
            field="query:status",
        )  # fmt: skip
