"""``/logs``: search log lines, the template trends and the never-seen templates.

Log text is attacker-controlled: it is only ever rendered through autoescaping templates,
and the CSP forbids inline script besides."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from opsengine.web.charts import line_chart
from opsengine.web.reads import RANGES, named, time_range
from opsengine.web.render import render

MAX_TEXT = 1000
LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
TREND_TOP = 8


class LogPages(Controller):
    path = "/logs"

    @get("/", sync_to_thread=True)
    def logs(
        self,
        request: Request,
        text: Annotated[str, QueryParameter(max_length=MAX_TEXT)] = "",
        host: Annotated[str, QueryParameter(max_length=200)] = "",
        level: Annotated[str, QueryParameter(max_length=20)] = "",
        range_: Annotated[str | None, QueryParameter(name="range")] = None,
    ) -> Response:
        engine = request.app.state.services.engine
        label, start, end, bucket = time_range(range_)
        span = {"from": start, "to": end}
        lines = named(
            engine,
            "log_search",
            text=text,
            host=host,
            level=level if level in LEVELS else "",
            **span,
            limit=200,
        )
        trend = named(engine, "template_trend", **span, bucket=bucket, top=TREND_TOP)
        for r in trend:
            r["label"] = f"#{r['template_id']} {r['template'][:60]}"
        return render(
            request,
            "logs.html",
            title="Logs",
            lines=lines,
            text=text,
            host=host,
            level=level,
            levels=LEVELS,
            range=label,
            ranges=list(RANGES),
            trend_chart=line_chart(
                trend,
                x="bucket_start",
                y="lines",
                by="label",
                title="Top log templates over time",
                kind="bar",
                stacked=True,
            ),
            new_templates=named(engine, "new_templates", **span),
        )
