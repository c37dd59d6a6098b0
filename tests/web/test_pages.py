"""The dashboard through the real app (TestClient): sessions, CSRF, roles, escaping and
the security headers, on a seeded store."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from opsengine.api import create_app
from opsengine.engine import Engine

from tests.support.seeded import CSRF, SCRIPT_LINE, copy_store

PAGES = ["/", "/incidents", "/alerts", "/problems", "/logs", "/metrics/chart", "/queries",
         "/queries/mttr", "/capacity"]  # fmt: skip


@pytest.fixture()
def site(seeded_db, tmp_path):
    path, settings = seeded_db
    copy = copy_store(path, tmp_path)
    engine = Engine(copy, settings, admin_channel=False)
    try:
        app = create_app(engine, settings)
        keys = app.state.services.keys
        tokens = {r: keys.create(r, f"web {r}").token for r in ("viewer", "operator", "admin")}
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, tokens, engine
    finally:
        engine.close()


def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the form; returns the session's CSRF token (from the overview)."""
    form = client.get("/login")
    login_csrf = CSRF.search(form.text).group(1)
    r = client.post("/login", data={"token": token, "_csrf": login_csrf, "next": "/"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/")
    assert page.status_code == 200
    return CSRF.search(page.text).group(1)


def test_pages_redirect_to_login_without_a_session(site):
    client, _, _ = site
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")


def test_a_bad_token_is_refused_and_a_good_one_opens_every_page(site):
    client, tokens, _ = site
    form = client.get("/login")
    login_csrf = CSRF.search(form.text).group(1)
    bad = client.post("/login", data={"token": "oe_nope", "_csrf": login_csrf})
    assert bad.status_code == 401
    assert "not valid" in bad.text
    sign_in(client, tokens["viewer"])
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert re.search(r"<title>[^<]+ · opsengine</title>", r.text)
        assert "<h1>" in r.text


def test_every_page_has_a_csp_without_inline_script(site):
    client, tokens, _ = site
    sign_in(client, tokens["viewer"])
    for path in [*PAGES, "/login"]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        script_src = next(d.strip() for d in csp.split(";") if d.strip().startswith("script-src"))
        assert script_src == "script-src 'self'"  # no inline script, no eval
        assert r.headers["x-frame-options"] == "DENY"
        # Every <script> loads a file; none carries code.
        for tag in re.findall(r"<script[^>]*>(.*?)</script>", r.text, flags=re.S):
            assert tag.strip() == "", (path, tag[:80])


def test_the_overview_fills_the_tiles_of_the_domains_that_exist(site):
    client, tokens, _ = site
    sign_in(client, tokens["viewer"])
    html = client.get("/live/overview").text
    tiles = dict(re.findall(r'data-tile="(\w+)">.*?data-tile-value>([^<]*)<', html, re.S))
    for key in ("mttd", "mtta", "mttr", "uptime", "security", "csat", "sla", "drift"):
        assert tiles[key].strip() not in ("", "—", "not configured"), (key, tiles)
    assert tiles["csat"].strip() == "66.7 %"  # two of three ratings are 4 or 5
    assert tiles["sla"].strip() == "100.0 %"
    assert tiles["drift"].strip() == "1"
    assert tiles["findings"].strip() == "not configured"  # no security domain yet
    assert "web-1" in html and "host-crit" in html  # web-1's CPU is saturated


def test_log_text_is_escaped(site):
    client, tokens, _ = site
    sign_in(client, tokens["viewer"])
    html = client.get("/logs", params={"text": "window.__pwned", "range": "1h"}).text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "<script>window.__pwned" not in html
    assert SCRIPT_LINE.split("<")[0].strip() in html


def test_a_viewer_sees_no_action_and_is_refused_one(site):
    client, tokens, engine = site
    csrf = sign_in(client, tokens["viewer"])
    target = engine.incidents.list(state="triggered", limit=1)[0]["id"]
    page = client.get(f"/incidents/{target}").text
    assert "data-action" not in page
    r = client.post(f"/incidents/{target}/acknowledge", data={"_csrf": csrf})
    assert r.status_code == 403
    assert engine.incidents.get(target)["state"] == "triggered"


def test_a_post_without_the_csrf_token_is_refused(site):
    client, tokens, engine = site
    sign_in(client, tokens["operator"])
    target = engine.incidents.list(state="triggered", limit=1)[0]["id"]
    for form in ({}, {"_csrf": "forged"}):
        r = client.post(f"/incidents/{target}/acknowledge", data=form)
        assert r.status_code == 403
        assert "security token" in r.text
    assert engine.incidents.get(target)["state"] == "triggered"


def test_an_operator_acknowledges_notes_and_resolves(site):
    client, tokens, engine = site
    csrf = sign_in(client, tokens["operator"])
    target = engine.incidents.list(state="triggered", limit=1)[0]["id"]
    r = client.post(f"/incidents/{target}/acknowledge", data={"_csrf": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    client.post(f"/incidents/{target}/notes", data={"_csrf": csrf, "text": "rotating logs"})
    client.post(f"/incidents/{target}/resolve", data={"_csrf": csrf, "note": "cleaned /var"})
    assert engine.incidents.get(target)["state"] == "resolved"
    kinds = [e["kind"] for e in engine.incidents.timeline(target)]
    assert kinds[-3:] == ["acknowledged", "note", "resolved"] or "note" in kinds
    again = client.post(f"/incidents/{target}/acknowledge", data={"_csrf": csrf})
    assert again.status_code == 409  # resolved: cannot be acknowledged


def test_signing_out_ends_the_session(site):
    client, tokens, _ = site
    csrf = sign_in(client, tokens["viewer"])
    client.post("/logout", data={"_csrf": csrf})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions(site):
    client, tokens, _ = site
    sign_in(client, tokens["viewer"])
    keys = client.app.state.services.keys
    viewer = next(k for k in keys.list() if k.name == "web viewer")
    keys.revoke(viewer.id, revoked_by="test")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_named_query_runs_to_a_table_and_a_csv(site):
    client, tokens, _ = site
    sign_in(client, tokens["viewer"])
    page = client.get("/queries/log_volume", params={"run": "1", "from": "-2h", "bucket": "5m"})
    assert page.status_code == 200
    assert "data-result" in page.text and "data-chart" in page.text
    csv = client.get("/queries/log_volume/csv", params={"from": "-2h", "bucket": "5m"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "bucket_start,source,level,lines"
    bad = client.get("/queries/log_volume", params={"run": "1", "bucket": "soon"})
    assert bad.status_code == 422 and "bucket" in bad.text


def test_metrics_path_sends_browsers_to_the_page_and_scrapers_to_the_exposition(site):
    client, _, _ = site
    html = client.get("/metrics", headers={"accept": "text/html,*/*"}, follow_redirects=False)
    assert html.status_code == 303 and html.headers["location"] == "/metrics/chart"
    text = client.get("/metrics", headers={"accept": "text/plain"})
    assert text.status_code == 200 and "opsengine_" in text.text


def test_login_redirects_only_within_the_site(site):
    client, tokens, _ = site
    login_csrf = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"token": tokens["viewer"], "_csrf": login_csrf,
                                    "next": "https://evil.example/"}, follow_redirects=False)  # fmt: skip
    assert r.headers["location"] == "/"
