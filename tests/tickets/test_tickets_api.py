"""The service desk through the real API: roles, the ticket life cycle with its SLA block,
the incident link that solves tickets, satisfaction links, and bad input that changes
nothing."""

from __future__ import annotations

from tests.support.api_helpers import assert_problem, running_api

CALENDAR = {
    "timezone": "Europe/Berlin",
    "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-25"],
}
POLICY = {
    "calendar": "office",
    "targets": {
        "P1": {"first_response": "1h", "resolution": "8h"},
        "P3": {"first_response": "8h", "resolution": "40h"},
    },
    "queues": ["support"],
}
NEW = {
    "subject": "Mail does not sync",
    "description": "Outlook shows an old inbox since the update",
    "requester": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "priority": "P1",
    "queue": "support",
}


def setup_desk(api) -> None:
    assert api.client.put("/api/v1/calendars/office", json=CALENDAR,
                          headers=api.auth("admin")).status_code == 200  # fmt: skip
    r = api.client.put("/api/v1/sla-policies/standard", json=POLICY, headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["queues"] == ["support"]


def test_roles_and_ticket_life_cycle(tmp_path):
    with running_api(tmp_path) as api:
        assert api.client.get("/api/v1/tickets").status_code == 401
        # Operators cannot manage calendars; viewers cannot open tickets.
        r = api.client.put("/api/v1/calendars/office", json=CALENDAR, headers=api.auth("operator"))
        assert_problem(r, 403)
        assert_problem(api.post("/api/v1/tickets", "viewer", json=NEW), 403)
        setup_desk(api)

        r = api.post("/api/v1/tickets", "operator", json=NEW)
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["status"] == "new" and t["requester"]["email"] == "ada@example.com"
        sla = t["sla"]
        assert set(sla) >= {"policy", "first_response_due", "resolution_due",
                            "first_response_breached", "resolution_breached", "paused"}  # fmt: skip
        assert sla["policy"] == "standard"
        assert sla["first_response_due"].endswith("Z") or "+00:00" in sla["first_response_due"]

        # A note is internal: no first response; a public reply is, and opens the ticket.
        r = api.post(f"/api/v1/tickets/{t['id']}/replies", "operator",
                     json={"body": "checking the mail server", "public": False})  # fmt: skip
        assert r.status_code == 201 and r.json()["public"] is False
        assert api.get(f"/api/v1/tickets/{t['id']}", "viewer").json()["first_response_at"] is None
        r = api.post(f"/api/v1/tickets/{t['id']}/replies", "operator",
                     json={"body": "Please restart Outlook", "public": True})  # fmt: skip
        t = api.get(f"/api/v1/tickets/{t['id']}", "viewer").json()
        assert t["status"] == "open" and t["first_response_at"] is not None
        assert [c["public"] for c in t["comments"]] == [False, True]

        r = api.post(f"/api/v1/tickets/{t['id']}/status", "operator", json={"status": "pending"})
        assert r.json()["sla"]["paused"] is True
        api.post(f"/api/v1/tickets/{t['id']}/status", "operator", json={"status": "solved"})
        history = api.get(f"/api/v1/tickets/{t['id']}/history", "viewer").json()
        kinds = [(h["kind"], h["detail"].get("to")) for h in history]
        assert ("status", "pending") in kinds and ("status", "solved") in kinds
        assert kinds[0] == ("created", None)

        # Search by text (a reply's words), requester, status, queue.
        api.post("/api/v1/tickets", "operator", json={**NEW, "subject": "Printer on fire",
                 "description": "smoke", "requester": {"email": "bob@example.com"}})  # fmt: skip
        found = api.get("/api/v1/tickets?q=restart%20outlook", "viewer").json()["items"]
        assert [x["id"] for x in found] == [t["id"]]
        assert len(api.get("/api/v1/tickets?requester=bob@example.com").json()["items"]) == 1
        assert len(api.get("/api/v1/tickets?status=solved").json()["items"]) == 1
        assert len(api.get("/api/v1/tickets?queue=support").json()["items"]) == 2


def test_only_admins_import_history(tmp_path):
    with running_api(tmp_path) as api:
        setup_desk(api)
        body = {**NEW, "created_at": "2026-11-02T08:00:00Z"}
        assert_problem(
            api.post("/api/v1/tickets", "operator", json=body), 403, field="$.created_at"
        )
        assert api.get("/api/v1/tickets").json()["items"] == []
        r = api.post("/api/v1/tickets", "admin", json=body)
        assert r.status_code == 201
        # P1 first response 1h from Monday 2 Nov 09:00 CET (08:00 UTC): 10:00 CET = 09:00 UTC.
        assert r.json()["sla"]["first_response_due"].startswith("2026-11-02T09:00:00")
        assert r.json()["source"] == "import"


def test_bad_input_names_the_field_and_changes_nothing(tmp_path):
    with running_api(tmp_path) as api:
        setup_desk(api)
        t = api.post("/api/v1/tickets", "operator", json=NEW).json()
        before = api.get(f"/api/v1/tickets/{t['id']}").json()

        # Closing a new ticket is not a move the desk allows.
        r = api.post(f"/api/v1/tickets/{t['id']}/status", "operator", json={"status": "closed"})
        body = assert_problem(r, 409, field="$.status")
        assert "new to closed" in body["detail"]
        # An unknown id.
        assert_problem(api.post("/api/v1/tickets/999/status", "operator",
                                json={"status": "open"}), 404)  # fmt: skip
        assert_problem(api.get("/api/v1/tickets/999"), 404)
        # A calendar with overlapping hours.
        bad = {**CALENDAR, "hours": {"mon": ["09:00-13:00", "12:00-17:00"]}}
        assert_problem(api.client.put("/api/v1/calendars/office", json=bad,
                                      headers=api.auth("admin")), 422, field="$.hours.mon")  # fmt: skip
        assert api.get("/api/v1/calendars/office").json()["hours"]["mon"] == ["09:00-17:00"]
        # A priority that does not exist, an e-mail that is not one.
        assert_problem(api.post("/api/v1/tickets", "operator", json={**NEW, "priority": "P9"}),
                       422, field="$.priority")  # fmt: skip
        assert_problem(api.post("/api/v1/tickets", "operator",
                                json={**NEW, "requester": {"email": "nobody"}}),
                       422, field="$.requester.email")  # fmt: skip
        # A policy on a calendar that does not exist.
        assert_problem(api.client.put("/api/v1/sla-policies/x", json={**POLICY, "calendar": "nope"},
                                      headers=api.auth("admin")), 404)  # fmt: skip

        assert api.get(f"/api/v1/tickets/{t['id']}").json() == before
        assert len(api.get("/api/v1/tickets").json()["items"]) == 1
        assert [p["name"] for p in api.get("/api/v1/sla-policies").json()] == ["standard"]


def test_linked_incident_resolving_solves_the_ticket(tmp_path):
    with running_api(tmp_path) as api:
        setup_desk(api)
        linked = api.post("/api/v1/tickets", "operator", json=NEW).json()
        kept = api.post("/api/v1/tickets", "operator",
                        json={**NEW, "subject": "Also mail"}).json()  # fmt: skip
        other = api.post("/api/v1/tickets", "operator", json={**NEW, "subject": "VPN"}).json()
        # Escalating opens an incident from the ticket and links it.
        r = api.post(f"/api/v1/tickets/{linked['id']}/escalate", "operator")
        assert r.status_code == 200, r.text
        [link] = r.json()["links"]
        incident_id = link["id"]
        incident = api.get(f"/api/v1/incidents/{incident_id}").json()
        assert incident["priority"] == "P1" and "Mail does not sync" in incident["title"]
        # The second ticket is linked by hand and asks not to be solved with the incident.
        r = api.post(f"/api/v1/tickets/{kept['id']}/links", "operator",
                     json={"incident_id": incident_id, "auto_solve": False})  # fmt: skip
        assert r.status_code == 200, r.text

        r = api.post(f"/api/v1/incidents/{incident_id}/resolve", "operator", json={})
        assert r.status_code == 200, r.text

        solved = api.get(f"/api/v1/tickets/{linked['id']}").json()
        assert solved["status"] == "solved"
        reply = solved["comments"][-1]
        assert reply["public"] is True and reply["author"] == "system"
        assert f"#{incident_id}" in reply["body"] and "resolved" in reply["body"]
        assert api.get(f"/api/v1/tickets/{kept['id']}").json()["status"] == "new"
        assert api.get(f"/api/v1/tickets/{other['id']}").json()["status"] == "new"
        # A solved ticket asks for a rating.
        assert solved["csat"]["rating"] is None and solved["csat"]["requested_at"]


def test_csat_token_works_once_and_forgeries_are_refused(tmp_path):
    with running_api(tmp_path) as api:
        setup_desk(api)
        t = api.post("/api/v1/tickets", "operator", json=NEW).json()
        api.post(f"/api/v1/tickets/{t['id']}/replies", "operator", json={"body": "fixed"})
        api.post(f"/api/v1/tickets/{t['id']}/status", "operator", json={"status": "solved"})
        link = api.get(f"/api/v1/tickets/{t['id']}/survey", "operator").json()
        token = link["token"]
        assert link["path"] == f"/api/v1/csat/{token}"
        # The key lives in a 0600 file beside the database, not in a table.
        key = api.engine.store.data_dir / "csat.key"
        assert key.stat().st_mode & 0o777 == 0o600

        # Out of range: refused, naming the field; the token still works afterwards.
        assert_problem(api.client.post(f"/api/v1/csat/{token}", json={"rating": 6}),
                       422, field="$.rating")  # fmt: skip
        ticket_id, nonce, expiry, sig = token.split(".")
        forged = [
            f"{ticket_id}.{nonce}.{int(expiry) + 86400}.{sig}",  # a later expiry
            f"{int(ticket_id) + 1}.{nonce}.{expiry}.{sig}",  # another ticket
            f"{ticket_id}.{nonce}.{expiry}.{sig[:-2]}AA",  # another signature
            "garbage",
        ]
        for bad in forged:
            assert_problem(api.client.post(f"/api/v1/csat/{bad}", json={"rating": 5}), 403,
                           field="path:token")  # fmt: skip
        assert api.get(f"/api/v1/tickets/{t['id']}").json()["csat"]["rating"] is None

        # No API key needed: the signed link is the permission.
        r = api.client.post(f"/api/v1/csat/{token}", json={"rating": 4, "comment": "quick"})
        assert r.status_code == 200, r.text
        r = api.client.post(f"/api/v1/csat/{token}", json={"rating": 1, "comment": "changed"})
        assert_problem(r, 409, field="path:token")
        csat = api.get(f"/api/v1/tickets/{t['id']}").json()["csat"]
        assert (csat["rating"], csat["comment"]) == (4, "quick")

        # User satisfaction is part of the KPIs, by the named query.
        kpis = api.get("/api/v1/incidents/kpis").json()
        assert kpis["user_satisfaction"]["answered"] == 1
        assert kpis["user_satisfaction"]["satisfied_percent"] == 100.0
        rows = api.get("/api/v1/queries/csat/rows", "viewer").json()["rows"]
        assert [(r["queue"], r["answered"], r["average_rating"]) for r in rows] == [
            ("support", 1, 4.0)
        ]


def test_bulk_update_is_all_or_nothing_and_merge_moves_everything(tmp_path):
    with running_api(tmp_path) as api:
        setup_desk(api)
        ids = [api.post("/api/v1/tickets", "operator", json={**NEW, "subject": f"Mail {i}"}
                        ).json()["id"] for i in range(3)]  # fmt: skip
        # One id unknown: nothing changes on the others.
        r = api.post("/api/v1/tickets/bulk", "operator",
                     json={"ids": [*ids, 999], "changes": {"assignee": "kim"}})  # fmt: skip
        assert_problem(r, 404)
        assert {api.get(f"/api/v1/tickets/{i}").json()["assignee"] for i in ids} == {None}
        r = api.post("/api/v1/tickets/bulk", "operator",
                     json={"ids": ids, "changes": {"assignee": "kim", "tags": ["Mail"]},
                           "status": "open"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["updated"] == 3
        assert {(t["assignee"], t["status"], tuple(t["tags"])) for t in r.json()["tickets"]} == {
            ("kim", "open", ("mail",))
        }
        assert len(api.get("/api/v1/tickets?tag=mail&assignee=kim").json()["items"]) == 3

        # A reply with an attachment on the duplicate, then the merge.
        sha = "a" * 64
        r = api.post(f"/api/v1/tickets/{ids[1]}/replies", "operator", json={
            "body": "log attached", "attachments": [{"name": "mail.log", "size": 120,
                                                     "type": "text/plain", "sha256": sha}]})  # fmt: skip
        assert r.json()["attachments"] == [
            {"name": "mail.log", "size": 120, "type": "text/plain", "sha256": sha}
        ]
        r = api.post(f"/api/v1/tickets/{ids[1]}/merge", "operator", json={"into": ids[0]})
        assert r.status_code == 200, r.text
        target = r.json()
        assert [c["body"] for c in target["comments"]][:1] == ["log attached"]
        assert any(
            c["body"].startswith(f"Merged from ticket #{ids[1]}") for c in target["comments"]
        )
        assert [a["name"] for a in target["attachments"]] == ["mail.log"]
        dup = api.get(f"/api/v1/tickets/{ids[1]}").json()
        assert (dup["status"], dup["merged_into"]) == ("closed", ids[0])
        assert_problem(api.post(f"/api/v1/tickets/{ids[0]}/merge", "operator",
                                json={"into": ids[0]}), 422, field="$.into")  # fmt: skip
