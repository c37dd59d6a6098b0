"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against
the real app served over HTTP on 127.0.0.1 with a seeded store. Each test also checks that
the page logged no console error and asked no host but the app. Screenshots of every page
go to test-artifacts/web/ (gitignored)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from opsengine.api import create_app
from opsengine.engine import Engine

from tests.support.seeded import copy_store

CHROMIUM = os.environ.get("OPSENGINE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (the test extra)"
)
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set OPSENGINE_CHROMIUM)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(seeded_db, tmp_path_factory):
    """The real app on 127.0.0.1 (uvicorn in a thread of this process), a key per role."""
    import uvicorn

    path, settings = seeded_db
    copy = copy_store(path, tmp_path_factory.mktemp("browser"))
    engine = Engine(copy, settings, admin_channel=False)
    app = create_app(engine, settings)
    keys = app.state.services.keys
    tokens = {r: keys.create(r, f"browser {r}").token for r in ("viewer", "operator")}
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens, engine
    finally:
        uv.should_exit = True
        thread.join(30)
        engine.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """A signed-in browser tab that records console errors and every host it asked."""

    def __init__(self, browser, base: str, token: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).netloc))
        self.page.goto(base + "/")
        assert self.page.url.startswith(base + "/login")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(base + "/")

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors
        assert self.hosts == {urlsplit(self.base).netloc}, self.hosts


@pytest.fixture()
def visit(server, browser):
    base, tokens, _ = server
    opened: list[Visit] = []

    def open_as(role: str) -> Visit:
        v = Visit(browser, base, tokens[role])
        opened.append(v)
        return v

    yield open_as
    for v in opened:
        v.close()


def test_log_in_and_see_the_tiles_filled_and_the_charts_drawn(visit):
    v = visit("viewer")
    page = v.page
    v.go("/")
    for key in ("mttd", "mtta", "mttr", "uptime", "security"):
        value = page.locator(f'[data-tile="{key}"] [data-tile-value]').inner_text().strip()
        assert value not in ("", "—", "not configured"), key
    assert page.locator('[data-tile="csat"] [data-tile-value]').inner_text() == "66.7 %"
    assert page.locator('[data-tile="findings"] [data-tile-value]').inner_text() == "not configured"
    page.wait_for_selector(".chart .main-svg")  # plotly drew from the app's own copy
    assert page.locator(".chart[data-drawn]").count() == 6
    assert page.locator(".host").count() == 3
    v.shot("overview")


A11Y_CHECK = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.closest('label') || el.getAttribute('aria-label');
    if (!labelled) problems.push(`unlabelled ${el.tagName} ${el.name}`);
  }
  let last = 0;
  for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const level = Number(h.tagName[1]);
    if (level > last + 1) problems.push(`heading ${h.tagName} "${h.textContent}" after h${last}`);
    last = level;
  }
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  if (!document.title) problems.push('no title');
  return problems;
}"""


def test_every_page_renders_without_errors_and_with_labels_and_ordered_headings(visit):
    v = visit("operator")
    for name, path in (
        ("incidents", "/incidents"),
        ("alerts", "/alerts"),
        ("problems", "/problems"),
        ("logs", "/logs?range=1h"),
        ("metrics", "/metrics/chart?name=cpu_usage_percent&range=1h"),
        ("queries", "/queries"),
        ("capacity", "/capacity"),
        ("query-form", "/queries/top_rules"),
    ):
        v.go(path)
        assert v.page.evaluate(A11Y_CHECK) == [], path
        v.shot(name)
    assert v.page.title() == "Query top_rules · opsengine"


def test_open_an_incident_acknowledge_resolve_and_see_the_timeline(visit, server):
    _, _, engine = server
    target = engine.incidents.create(
        "Cache hit rate collapsed", actor="key:test", category="performance", host="web-2"
    )
    v = visit("operator")
    page = v.page
    v.go("/incidents?state=triggered")
    page.get_by_role("link", name="Cache hit rate collapsed").click()
    page.wait_for_url(f"{v.base}/incidents/{target}")
    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{v.base}/incidents/{target}")
    assert "acknowledged" in page.locator("[data-timeline]").inner_text()
    assert page.locator("[data-incident-state]").inner_text() == "acknowledged"
    page.get_by_label("Resolution note").fill("flushed the cache nodes")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_url(f"{v.base}/incidents/{target}")
    timeline = page.locator("[data-timeline]").inner_text()
    assert "resolved" in timeline and "flushed the cache nodes" in timeline
    assert page.locator("[data-incident-state]").inner_text() == "resolved"
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    v.shot("incident")


def test_run_a_named_query_and_see_its_table_and_chart(visit):
    v = visit("viewer")
    page = v.page
    v.go("/queries")
    page.get_by_role("link", name="log_volume", exact=True).click()
    page.get_by_label("from").fill("-2h")
    page.get_by_label("bucket").fill("5m")
    page.get_by_role("button", name="Run").click()
    page.wait_for_selector("[data-result] tbody tr")
    assert page.locator("[data-result] tbody tr").count() >= 2
    page.wait_for_selector("#query-chart .main-svg")
    assert page.get_by_role("link", name="Download CSV").count() == 1
    v.shot("query")


def test_a_viewer_has_no_action_buttons_and_a_forged_post_is_refused(visit, server):
    _, _, engine = server
    target = engine.incidents.create("Queue backlog on db-1", actor="key:test", host="db-1")
    v = visit("viewer")
    v.go(f"/incidents/{target}")
    assert v.page.locator("[data-action]").count() == 0
    assert v.page.get_by_role("button", name="Acknowledge").count() == 0
    # The session cookie rides along (same browser context); the CSRF token does not.
    forged = v.page.request.post(f"{v.base}/incidents/{target}/acknowledge", form={"note": "x"})
    assert forged.status == 403
    assert engine.incidents.get(target)["state"] == "triggered"
    o = visit("operator")
    forged = o.page.request.post(f"{o.base}/incidents/{target}/acknowledge", form={})
    assert forged.status == 403
    assert engine.incidents.get(target)["state"] == "triggered"


def test_a_log_line_with_a_script_tag_shows_as_text_and_runs_nothing(visit):
    v = visit("viewer")
    v.go("/logs?text=__pwned&range=1h")
    cell = v.page.locator("code.logline").first.inner_text()
    assert "<script>window.__pwned = 1</script>" in cell
    assert v.page.evaluate("typeof window.__pwned") == "undefined"
    v.shot("logs-escaped")


def test_the_incident_list_updates_without_a_reload(visit, server):
    _, _, engine = server
    v = visit("viewer")
    v.go("/incidents")
    marker = v.page.evaluate("window.__loadedOnce = 1")
    engine.incidents.create("Replica lag on db-2", actor="key:test", host="db-2")
    v.page.get_by_role("link", name="Replica lag on db-2").wait_for(timeout=30_000)
    assert v.page.evaluate("window.__loadedOnce") == 1  # the same document: no reload
    assert marker == 1


def test_the_keyboard_reaches_the_skip_link_then_the_navigation(visit):
    v = visit("viewer")
    v.go("/")
    v.page.keyboard.press("Tab")
    assert v.page.evaluate("document.activeElement.textContent") == "Skip to content"
    v.page.keyboard.press("Enter")
    assert v.page.evaluate("location.hash") == "#main"
    v.go("/")
    for _ in range(3):  # skip link, brand, then the first navigation link
        v.page.keyboard.press("Tab")
    assert v.page.evaluate("document.activeElement.getAttribute('href')") == "/"
    v.page.keyboard.press("Tab")
    v.page.keyboard.press("Enter")
    v.page.wait_for_url(v.base + "/incidents")
