"""Remake the README's dashboard screenshots from a running ``opsengine demo``.

    opsengine demo --port 8090        # in another terminal; wait a minute
    python docs/screenshots.py http://127.0.0.1:8090 VIEWER_OR_OPERATOR_TOKEN

Uses Debian's Chromium (``/usr/bin/chromium``, or OPSENGINE_CHROMIUM) through Playwright.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
SIZE = {"width": 1100, "height": 760}


def main(base: str, token: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("OPSENGINE_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox"],
        )
        page = browser.new_context(viewport=SIZE).new_page()
        page.goto(base + "/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/")
        page.wait_for_selector(".chart .main-svg")
        page.screenshot(path=HERE / "dashboard-overview.png")
        page.goto(base + "/incidents?priority=P2")
        page.locator("table a").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=HERE / "dashboard-incident.png")
        page.goto(base + "/queries/log_volume?run=1&from=-30m&bucket=1m")
        page.wait_for_selector("#query-chart .main-svg")
        page.screenshot(path=HERE / "dashboard-query.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
