"""Knowledge-base search on a corpus of 30 articles written here: each query must put the
right article first (BM25 over title, body and tags, English stemming), with highlights,
filters, suggestions for a ticket and feedback through the API."""

from __future__ import annotations

import pytest
from opsengine.engine import Engine

from tests.support.api_helpers import assert_problem, running_api

ARTICLES = [
    (
        "Reset your VPN password",
        ["vpn", "password"],
        "If the VPN client says your password expired, open the self-service portal, choose "
        "Reset password, and sign in to the VPN again with the new one.",
    ),
    (
        "Clearing a paper jam in the office printer",
        ["printer"],
        "Open tray 2, pull the jammed sheet out slowly, close the tray. The printer resumes.",
    ),
    (
        "How to reboot a frozen laptop",
        ["laptop"],
        "Hold the power button for ten seconds. After rebooting, check for pending updates.",
    ),
    (
        "Share your Outlook calendar",
        ["outlook", "calendar"],
        "In Outlook, right-click the calendar, choose Sharing permissions and add colleagues.",
    ),
    (
        "Home directory disk quota exceeded",
        ["storage"],
        "Each home directory has a 20 GB disk quota. Delete old files or ask for more quota.",
    ),
    (
        "Lost your MFA token",
        ["mfa", "security"],
        "Call the service desk to revoke the lost token; we issue a new MFA token the same day.",
    ),
    (
        "Submit an expense report",
        ["finance"],
        "Expense reports go through the finance portal; attach receipts as PDF.",
    ),
    (
        "Add an SSH key to your account",
        ["ssh", "linux"],
        "Generate a key with ssh-keygen and paste the public key into your profile.",
    ),
    # distractors sharing words with the above
    (
        "Password rules",
        ["password"],
        "Passwords need 14 characters. The portal refuses reused passwords.",
    ),
    (
        "VPN client installation",
        ["vpn"],
        "Install the VPN client from the software centre; it starts with Windows.",
    ),
    (
        "Printer drivers for macOS",
        ["printer", "macos"],
        "Add the printer under System Settings; the driver installs itself.",
    ),
    (
        "Laptop battery drains quickly",
        ["laptop"],
        "Lower the screen brightness and close background apps to save battery.",
    ),
    (
        "Outlook is slow to start",
        ["outlook"],
        "Disable add-ins and rebuild the Outlook profile if start-up takes minutes.",
    ),
    (
        "Request more storage for a team share",
        ["storage"],
        "Team shares grow on request; the owner asks through the storage form.",
    ),
    (
        "Security awareness training",
        ["security"],
        "Everyone completes the yearly training on phishing and safe browsing.",
    ),
    (
        "Travel booking",
        ["finance", "travel"],
        "Book flights and hotels through the travel portal; the finance team pays.",
    ),
    (
        "Linux workstation setup",
        ["linux"],
        "Workstations run Ubuntu LTS; install packages with apt and keep them updated.",
    ),
    (
        "Conference room displays",
        ["meeting"],
        "Connect the HDMI cable or use wireless casting to share your screen.",
    ),
    (
        "Guest Wi-Fi access",
        ["wifi"],
        "Guests get a voucher at reception that is valid for one day.",
    ),
    ("Phone voicemail setup", ["phone"], "Dial 8000, choose a PIN and record a greeting."),
    (
        "Ordering a new monitor",
        ["hardware"],
        "Monitors are ordered through the hardware catalogue with manager approval.",
    ),
    (
        "Shared mailbox access",
        ["outlook", "mail"],
        "Ask the mailbox owner to grant access; it appears in Outlook within an hour.",
    ),
    (
        "Mobile device enrolment",
        ["mobile"],
        "Install the company portal app and sign in to enrol your phone.",
    ),
    (
        "Printing double-sided",
        ["printer"],
        "Choose two-sided in the print dialog; the default is single-sided.",
    ),
    (
        "Software requests",
        ["software"],
        "Request licensed software in the software centre; approval takes a day.",
    ),
    (
        "Badge access to the building",
        ["facilities"],
        "Lost badges are blocked at reception, which issues a replacement.",
    ),
    (
        "Backup and restore of files",
        ["storage", "backup"],
        "Snapshots are taken hourly; restore a file from the Previous Versions tab.",
    ),
    (
        "Screen sharing in video calls",
        ["meeting"],
        "Press Share in the call toolbar and pick a window or the whole screen.",
    ),
    (
        "Keyboard layout changes",
        ["laptop"],
        "Switch layouts with Win+Space; add layouts in the language settings.",
    ),
    (
        "Time sheets",
        ["finance"],
        "Record hours weekly in the time-sheet tool; managers approve on Fridays.",
    ),
]

#: query → the title that must come first.
QUERIES = {
    "vpn password reset": "Reset your VPN password",
    "printer jams": "Clearing a paper jam in the office printer",  # stemmed: jams → jam(med)
    "rebooted": "How to reboot a frozen laptop",  # stemmed: rebooted → reboot(ing)
    "outlook calendar": "Share your Outlook calendar",  # two words
    "disk quota": "Home directory disk quota exceeded",
    "lost mfa token": "Lost your MFA token",
    "expenses": "Submit an expense report",  # stemmed plural
    "ssh key": "Add an SSH key to your account",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("kb") / "ops.duckdb"
    with Engine(path, admin_channel=False) as engine:
        for title, tags, body in ARTICLES:
            engine.kb.create(title=title, body=body, tags=tags, state="published", actor="t")
        engine.kb.create(title="Reset your VPN password (old draft)", body="vpn password reset",
                         tags=["vpn"], state="draft", actor="t")  # fmt: skip
        yield engine.kb


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_each_query_ranks_the_right_article_first(kb, query):
    hits = kb.search(query)["hits"]
    assert hits, query
    assert hits[0]["title"] == QUERIES[query], [h["title"] for h in hits]
    assert hits[0]["score"] > 0
    assert "<b>" in hits[0]["highlight"] + hits[0]["title_html"]


def test_stemming_highlights_the_inflected_word(kb):
    [first, *_] = kb.search("rebooted")["hits"]
    assert "<b>rebooting</b>" in first["highlight"]


def test_filters_and_drafts(kb):
    titles = [h["title"] for h in kb.search("password", tags=["vpn"])["hits"]]
    assert titles == ["Reset your VPN password"]  # the draft is not published
    drafts = [h["title"] for h in kb.search("vpn password", state="draft")["hits"]]
    assert drafts == ["Reset your VPN password (old draft)"]
    assert kb.search("zeppelin")["hits"] == []
    # Query syntax in user text is taken as words, not as an error.
    assert kb.search('printer: "jam (')["hits"][0]["title"].startswith("Clearing a paper jam")


def test_index_is_rebuilt_from_the_store_when_missing(tmp_path):
    import shutil

    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        engine.kb.create(title="Reset your VPN password", body="portal", state="published",
                         actor="t")  # fmt: skip
        index_dir = engine.store.data_dir / "kb-index"
    shutil.rmtree(index_dir)
    with Engine(tmp_path / "ops.duckdb", admin_channel=False) as engine:
        assert [h["id"] for h in engine.kb.search("password")["hits"]] == [1]


def test_api_search_suggestions_feedback_and_stats(tmp_path):
    with running_api(tmp_path) as api:
        for title, tags, body in ARTICLES[:10]:
            r = api.post("/api/v1/kb/articles", "operator",
                         json={"title": title, "body": body, "tags": tags, "state": "published"})  # fmt: skip
            assert r.status_code == 201, r.text
        assert_problem(api.post("/api/v1/kb/articles", "viewer", json={"title": "x", "body": "y"}),
                       403)  # fmt: skip
        assert_problem(api.post("/api/v1/kb/articles", "operator",
                                json={"title": "x", "body": "y", "state": "live"}),
                       422, field="$.state")  # fmt: skip
        r = api.get("/api/v1/kb/articles?q=printer%20jams", "viewer").json()
        assert r["hits"][0]["title"].startswith("Clearing a paper jam")
        article_id = r["hits"][0]["id"]
        r = api.client.put(f"/api/v1/kb/articles/{article_id}", json={"tags": ["printer", "paper"]},
                           headers=api.auth("operator"))  # fmt: skip
        assert r.status_code == 200 and r.json()["tags"] == ["paper", "printer"]
        assert api.get("/api/v1/kb/articles?q=jam&tag=paper").json()["total"] == 1
        assert api.get(f"/api/v1/kb/articles/{article_id}", "viewer").json()["views"] == 1
        assert_problem(api.get("/api/v1/kb/articles/999"), 404)

        t = api.post("/api/v1/tickets", "operator", json={
            "subject": "VPN says my password expired", "description": "cannot reset it",
            "requester": {"email": "ada@example.com"}}).json()  # fmt: skip
        suggestions = api.get(f"/api/v1/tickets/{t['id']}/suggestions", "viewer").json()
        assert suggestions[0]["title"] == "Reset your VPN password"
        r = api.post(f"/api/v1/kb/articles/{suggestions[0]['id']}/feedback", "viewer",
                     json={"helpful": True, "ticket_id": t["id"]})  # fmt: skip
        assert r.status_code == 201, r.text
        api.post(f"/api/v1/kb/articles/{article_id}/feedback", "viewer", json={"helpful": False})
        stats = api.get("/api/v1/kb/stats", "viewer").json()
        assert stats[0]["title"] == "Reset your VPN password"
        assert (stats[0]["helpful"], stats[0]["deflected_tickets"]) == (1, 1)
        jam = next(s for s in stats if s["id"] == article_id)
        assert (jam["views"], jam["not_helpful"]) == (1, 1)
