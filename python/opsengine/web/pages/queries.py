"""``/queries``: every named query with its parameters; run one to get a table, a chart
and a CSV download. Runs read-only with the API's row limit, like
``GET /api/v1/queries/{name}/rows``."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath

from opsengine.api.user_sql import run_read_only
from opsengine.store.named_queries import NamedQuery, QueryRunError
from opsengine.web.charts import table_chart
from opsengine.web.reads import shipped_queries
from opsengine.web.render import render


def _find(name: str) -> NamedQuery | None:
    return shipped_queries().get(name)


def _values(request: Request, query: NamedQuery) -> dict[str, str]:
    """The query-string values of the query's parameters; empty fields take the default."""
    return {
        p.name: request.query_params[p.name]
        for p in query.params
        if request.query_params.get(p.name, "") != ""
    }


def _run(request: Request, query: NamedQuery, values: dict[str, str]):
    services = request.app.state.services
    query.convert_values(values)
    return run_read_only(
        services.engine.store,
        lambda cur: cur.sql(query.sql, params=query.bind(cur, values)),
        row_limit=services.api.sql_row_limit,
    )


class QueryPages(Controller):
    path = "/queries"

    @get("/", sync_to_thread=False)
    def queries(self, request: Request) -> Response:
        return render(
            request,
            "queries.html",
            title="Named queries",
            queries=sorted(shipped_queries().values(), key=lambda q: q.name),
        )

    @get("/{name:str}", sync_to_thread=True)
    def query(self, request: Request, name: FromPath[str]) -> Response:
        query = _find(name)
        if query is None:
            return render(
                request,
                "error.html",
                status_code=404,
                title="Not found",
                detail=f"no named query {name!r}",
            )
        values = _values(request, query)
        result, error, rows = None, None, []
        if "run" in request.query_params:
            try:
                result = _run(request, query, values)
                rows = result.table.to_pylist()
            except (ValueError, QueryRunError) as e:
                error = str(e)
        return render(
            request,
            "query.html",
            status_code=422 if error else 200,
            title=f"Query {query.name}",
            query=query,
            values=values,
            error=error,
            ran=result is not None,
            columns=result.table.column_names if result is not None else [],
            rows=rows,
            truncated=result.truncated if result is not None else False,
            chart=table_chart(rows, query.name),
            csv_query=str(request.url.query or ""),
        )

    @get("/{name:str}/csv", sync_to_thread=True)
    def csv_download(self, request: Request, name: FromPath[str]) -> Response:
        query = _find(name)
        if query is None:
            return Response(f"no named query {name!r}", status_code=404, media_type="text/plain")
        try:
            result = _run(request, query, _values(request, query))
        except (ValueError, QueryRunError) as e:
            return Response(str(e), status_code=422, media_type="text/plain")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.table.column_names)
        for row in result.table.to_pylist():
            writer.writerow([_cell(v) for v in row.values()])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{query.name}.csv"'},
        )


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value
