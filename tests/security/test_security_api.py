"""``/api/v1/security`` through the real app: roles, filters and paging, the lifecycle
actions with the caller as actor, the scan, and problems on bad input."""

from __future__ import annotations

from tests.security.test_vulnerability_audit import DEB, _write, needs_dpkg
from tests.support.api_helpers import assert_problem, running_api

BASE = "/api/v1/security"


@needs_dpkg
def test_findings_api(tmp_path):
    osv, status, site = _write(tmp_path, DEB)
    with running_api(tmp_path) as api:
        body = {"osv_dir": str(osv), "dpkg_status": str(status), "python": [str(site)]}
        assert_problem(api.post(f"{BASE}/scan", "operator", json=body), 403)
        assert api.client.get(f"{BASE}/findings").status_code == 401
        scan = api.post(f"{BASE}/scan", "admin", json=body)
        assert scan.status_code == 200, scan.text
        opened = scan.json()["opened"]
        assert len(opened) >= 5 and len(scan.json()["skipped"]) == 2

        # cursor paging walks every finding once
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = api.get(f"{BASE}/findings", "viewer", params=params).json()
            seen += [f["id"] for f in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(opened)
        deb = api.get(f"{BASE}/findings", "viewer", params={"subject": "deb:openssl"}).json()
        assert [f["cause"] for f in deb["items"]] == ["DSA-1"]
        fid = deb["items"][0]["id"]

        assert_problem(api.post(f"{BASE}/findings/{fid}/acknowledge", "viewer"), 403)
        ack = api.post(f"{BASE}/findings/{fid}/acknowledge", "operator", json={"reason": "on it"})
        assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
        assert_problem(api.post(f"{BASE}/findings/{fid}/acknowledge", "operator"), 409)
        assert_problem(api.post(f"{BASE}/findings/{fid}/accept-risk", "operator",
                                json={"until": "tomorrow"}), 422, field="$.until")  # fmt: skip
        assert_problem(api.post(f"{BASE}/findings/{fid}/accept-risk", "operator",
                                json={"until": "2020-01-01T00:00:00Z"}), 422, field="$.until")  # fmt: skip
        ok = api.post(f"{BASE}/findings/{fid}/accept-risk", "operator",
                      json={"until": "2099-01-01T00:00:00Z", "reason": "isolated host"})  # fmt: skip
        assert ok.json()["state"] == "accepted_risk"
        detail = api.get(f"{BASE}/findings/{fid}", "viewer").json()
        assert detail["evidence"]["advisory"] == "DSA-1"
        assert [h["action"] for h in detail["history"]][-2:] == ["acknowledge", "accept-risk"]
        assert detail["history"][-1]["actor"] != "scanner"

        assert_problem(api.get(f"{BASE}/findings/99999", "viewer"), 404)
        assert_problem(api.get(f"{BASE}/findings", "viewer", params={"state": "closed"}), 422,
                       field="query:state")  # fmt: skip
        assert_problem(api.get(f"{BASE}/findings", "viewer", params={"cursor": "junk"}), 422)
