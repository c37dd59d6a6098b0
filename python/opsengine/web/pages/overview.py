"""``/``: the overview, and ``/live/overview``, its live part (tiles, open incidents by
priority, host grid) that ``app.js`` fetches every few seconds."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from opsengine.web.overview import fleet_charts, host_grid, kpi_tiles, open_by_priority
from opsengine.web.reads import RANGES, time_range
from opsengine.web.render import render, render_fragment

LIVE_INTERVAL_S = 10
#: Every polling tab within this many seconds gets the same computed state: the cost of
#: the live overview stays one computation per interval however many tabs are open.
LIVE_CACHE_S = 5.0


class LiveCache:
    """The latest live state of the overview and when it was computed (one per app)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at = -LIVE_CACHE_S
        self.value: dict | None = None


def _live(request: Request) -> dict:
    cache: LiveCache = request.app.state.web_live_cache
    with cache.lock:  # one computation at a time; the tabs that waited get its result
        if cache.value is None or time.monotonic() - cache.at >= LIVE_CACHE_S:
            cache.value = _compute_live(request.app.state.services.engine)
            cache.at = time.monotonic()
        return cache.value


def _compute_live(engine) -> dict:
    priorities, open_incidents = open_by_priority(engine)
    return {
        "tiles": kpi_tiles(engine),
        "priorities": priorities,
        "open_incidents": open_incidents[:10],
        "open_total": len(open_incidents),
        "hosts": host_grid(engine, open_incidents),
    }


class OverviewPages(Controller):
    path = "/"

    @get("/", sync_to_thread=True)
    def overview(
        self, request: Request, range_: Annotated[str | None, QueryParameter(name="range")] = None
    ) -> Response:
        engine = request.app.state.services.engine
        label, start, end, bucket = time_range(range_)
        return render(
            request,
            "overview.html",
            title="Overview",
            live=_live(request),
            charts=fleet_charts(engine, start, end, bucket),
            range=label,
            ranges=list(RANGES),
            live_interval=LIVE_INTERVAL_S,
        )

    @get("/live/overview", sync_to_thread=True)
    def live(self, request: Request) -> Response:
        html = render_fragment("overview_live.html", live=_live(request))
        return Response(html, media_type="text/html; charset=utf-8")
