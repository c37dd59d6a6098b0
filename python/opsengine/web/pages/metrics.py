"""``/metrics``: choose a series (name, optionally one host) and a range, see a chart."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from opsengine.web.charts import line_chart
from opsengine.web.reads import RANGES, metric_series, named, time_range
from opsengine.web.render import render

AGGREGATES = {
    "mean": "mean over the host's series",
    "peak": "highest series",
    "total": "sum over the host's series",
}


class MetricPages(Controller):
    path = "/metrics"
    # /metrics is the Prometheus exposition (an API route); this page answers on /metrics/
    # for browsers that ask for HTML, see web/__init__.py.

    @get("/chart", sync_to_thread=True)
    def metrics(
        self,
        request: Request,
        name: Annotated[str, QueryParameter(max_length=200)] = "",
        host: Annotated[str, QueryParameter(max_length=200)] = "",
        agg: Annotated[str, QueryParameter()] = "mean",
        range_: Annotated[str | None, QueryParameter(name="range")] = None,
    ) -> Response:
        engine = request.app.state.services.engine
        label, start, end, bucket = time_range(range_)
        names = named(engine, "metric_names")
        agg = agg if agg in AGGREGATES else "mean"
        chart = None
        if name:
            rows = metric_series(engine, name, start, end, bucket, host=host)
            chart = line_chart(
                rows, x="bucket_start", y=agg, by="host", title=f"{name} ({AGGREGATES[agg]})"
            )
        return render(
            request,
            "metrics.html",
            title="Metrics",
            names=names,
            name=name,
            host=host,
            agg=agg,
            aggregates=AGGREGATES,
            range=label,
            ranges=list(RANGES),
            chart=chart,
        )
