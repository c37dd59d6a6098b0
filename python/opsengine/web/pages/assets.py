"""``/static/…``: the dashboard's CSS and JavaScript from the package, and plotly's bundled
``plotly.min.js`` from the installed ``plotly`` package: no CDN, no build step."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from opsengine.web.session import OPEN_OPT

STATIC = Path(__file__).resolve().parent.parent / "static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CACHE = "public, max-age=3600"


@cache
def plotly_js() -> bytes:
    import plotly

    return (Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js").read_bytes()


@cache
def _asset(name: str) -> bytes | None:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        return None
    return path.read_bytes()


class StaticAssets(Controller):
    path = "/static"
    opt = {OPEN_OPT: True}  # noqa: RUF012

    @get("/plotly.min.js", sync_to_thread=False)
    def plotly(self) -> Response:
        return Response(plotly_js(), media_type=TYPES[".js"], headers={"cache-control": CACHE})

    @get("/{name:str}", sync_to_thread=False)
    def asset(self, name: FromPath[str]) -> Response:
        data = _asset(name)
        if data is None:
            raise NotFoundException(f"no static file {name!r}")
        return Response(
            data,
            media_type=TYPES.get(Path(name).suffix, "application/octet-stream"),
            headers={"cache-control": CACHE},
        )
