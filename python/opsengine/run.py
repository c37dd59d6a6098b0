"""The main job (``opsengine run``): engine, sources and the HTTP API in one process.

Start-up: open the store (``./opsengine.duckdb`` unless configured), load the rules, make
the first admin key if the store has no key yet (its token is printed once; only its hash
is stored), start the sources (files, syslog, probes, host metrics) and serve the API on
127.0.0.1:8080 with one in-process ASGI worker (granian's embedded server by default,
uvicorn as the alternative; see the README for why).

Shutdown on SIGINT or SIGTERM, in order: the server stops taking requests and finishes
those in flight, the sources stop (flushing what they read), the ingest queue runs every
batch it accepted, then the engine closes the store. Nothing a client was answered for
is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from opsengine.config import Settings

log = logging.getLogger("opsengine.run")

SERVERS = ("granian", "uvicorn")
FIRST_ADMIN_NAME = "first admin (opsengine run)"
LISTEN_WAIT_S = 60


class RunError(RuntimeError):
    """The main job cannot start; the message says why and what to change."""


def ensure_first_admin(services: Any) -> str | None:
    """Make an admin key when the store has none; returns its token (the only copy)."""
    from opsengine.access.audit import AuditEntry

    if services.keys.count():
        return None
    new = services.keys.create("admin", FIRST_ADMIN_NAME, created_by="first-start")
    services.audit.record(
        AuditEntry(
            actor="first-start",
            role="admin",
            action=f"keys create {new.key.id}",
            client="local",
            outcome="ok",
            detail="admin key made on first start",
        )
    )
    services.audit.flush()
    return new.token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise RunError(
            f"cannot listen on {host}:{port}: {e.strerror or e} "
            "(--port or [api] port chooses another)"
        ) from None
    return sock


def start_sources(engine: Any, settings: Settings) -> tuple[Any, str | None]:
    """(the running sources or None, why they did not start); the API serves either way."""
    try:
        from opsengine.sources.runner import start_sources
    except ImportError as e:
        return None, f"sources unavailable in this build: {e}"
    try:
        return start_sources(engine, settings), None
    except Exception as e:  # one broken source module must not keep the API down
        log.exception("starting the sources failed")
        return None, f"sources failed to start: {e}"


def sources_health(running: Any) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        status = running.status()
        bad = [name for name, s in status.items() if not s.get("ok", True)]
        return {"status": "degraded" if bad else "ok", "sources": status}

    return check


def _announce_when_listening(host: str, port: int, announce: Callable[[], None]) -> None:
    target = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host

    def wait() -> None:
        deadline = time.monotonic() + LISTEN_WAIT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection((target, port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            announce()
            return
        log.error("the API did not start listening on %s:%d within %ds", host, port, LISTEN_WAIT_S)

    threading.Thread(target=wait, name="announce", daemon=True).start()


def serve_uvicorn(app: Any, sock: socket.socket) -> None:
    """uvicorn on this thread's event loop; SIGINT/SIGTERM stop it gracefully."""
    import uvicorn

    class Server(uvicorn.Server):
        # uvicorn re-raises a caught SIGTERM once it has stopped, which would end the
        # process before the sources, the queue and the store are flushed; handle it here.
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
    server = Server(config)
    _serve_until_signalled(
        lambda: server.serve(sockets=[sock]), lambda: setattr(server, "should_exit", True)
    )


def serve_granian(app: Any, host: str, port: int) -> None:
    """granian's embedded server on this thread's event loop; SIGINT/SIGTERM stop it."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_level=LogLevels.warning,
        log_access=False,
        websockets=False,
    )
    _serve_until_signalled(server.serve, server.stop)


def _serve_until_signalled(serve: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
    """Run ``serve()`` on a new event loop; SIGINT and SIGTERM call ``stop`` (a graceful stop)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await serve()

    asyncio.run(main())


def run(
    settings: Settings,
    *,
    out: TextIO = sys.stdout,
    companion: Callable[[Any, int], Any] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM. Raises RunError (and the engine's errors) when it cannot start.

    ``companion(services, port)``, when given, is called once the server listens (after the
    banner) and returns something with ``stop()``, called as soon as the server has stopped:
    ``opsengine demo`` starts its simulated fleet this way.
    """
    from opsengine.api import create_app
    from opsengine.api.context import build_services
    from opsengine.engine import Engine

    api = settings.api
    if api.server not in SERVERS:
        raise RunError(f"[api] server {api.server!r} is not one of {', '.join(SERVERS)}")
    sock = _bind(api.host, api.port)
    port = sock.getsockname()[1]
    if api.server == "granian":
        sock.close()  # granian binds its own socket; the check above gave the clear error
    try:
        engine = Engine(settings.db, settings)
    except BaseException:
        sock.close()
        raise
    running = None
    services = None
    companions: list[Any] = []
    try:
        services = build_services(engine, settings)
        if settings.incidents.memory_index:
            # This process owns the store: incident lists answer from memory once loaded.
            services.health_checks["incident_index"] = engine.incidents.load_index().health
        token = ensure_first_admin(services)
        running, sources_problem = start_sources(engine, settings)
        if sources_problem:
            services.health_checks["sources"] = lambda: {
                "status": "degraded",
                "error": sources_problem,
            }
        if running is not None:
            services.health_checks["sources"] = sources_health(running)
        app = create_app(engine, settings, services=services)

        # Printed once the server accepts connections, so whoever reads it can connect at once.
        def announce() -> None:
            _banner(out, settings, engine, port, running, token, sources_problem)
            if companion is not None:
                companions.append(companion(services, port))

        _announce_when_listening(api.host, port, announce)
        if api.server == "uvicorn":
            serve_uvicorn(app, sock)
        else:
            serve_granian(app, api.host, port)
        print("opsengine: stopping: finishing accepted work…", file=out, flush=True)
    finally:
        for c in companions:
            c.stop()
        sock.close()
        if running is not None:
            running.stop()
        if services is not None:
            services.close()
        engine.close()
    print("opsengine: stopped; everything accepted is stored", file=out, flush=True)


def _banner(
    out: TextIO,
    settings: Settings,
    engine: Any,
    port: int,
    running: Any,
    token: str | None,
    sources_problem: str | None,
) -> None:
    api = settings.api
    url = f"http://{api.host}:{port}"
    rules = f"{len(engine.rules)} rules" + (
        f" from {', '.join(settings.rules)}" if settings.rules else " (default pack)"
    )
    lines = [
        "opsengine running",
        f"  store:    {Path(engine.store.path).resolve()}",
        f"  dashboard: {url}/",
        f"  api:      {url}/api/v1  (OpenAPI {url}/schema/openapi.json)",
        f"  health:   {url}/health   metrics: {url}/metrics",
        f"  server:   {api.server}, one worker in this process",
        f"  rules:    {rules}",
    ]
    if running is not None:
        described = running.describe() or ["none"]
        lines += [f"  {'sources:' if i == 0 else '':<10}{d}" for i, d in enumerate(described)]
    if sources_problem:
        lines.append(f"  sources:  not started ({sources_problem})")
    if token:
        lines += [
            "",
            "  first start: an admin key was made. Its token is shown this once;",
            "  only its hash is stored:",
            f"  admin token: {token}",
            "",
        ]
    lines.append("Ctrl-C or SIGTERM stops; accepted data is stored first.")
    print("\n".join(lines), file=out, flush=True)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "litestar", "granian", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
