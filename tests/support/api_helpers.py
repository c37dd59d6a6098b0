"""The real API over a real engine for tests: a DuckDB file in tmp_path, the compiled core,
``create_app`` and Litestar's TestClient speaking HTTP to the ASGI app, with keys per role;
and ``opsengine run`` as a real process on a free port (``RunningEngine``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import TestClient
from opsengine.api import create_app
from opsengine.api.context import ApiServices
from opsengine.config import Settings
from opsengine.engine import Engine

PROBLEM_JSON = "application/problem+json"


@dataclass
class ApiUnderTest:
    client: TestClient
    engine: Engine
    services: ApiServices
    tokens: dict[str, str]  # role -> token

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "admin", **kw):
        return self.client.get(path, headers={**self.auth(role), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, role: str = "admin", **kw):
        return self.client.post(path, headers={**self.auth(role), **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, role: str = "admin", **kw):
        return self.client.delete(path, headers={**self.auth(role), **kw.pop("headers", {})}, **kw)


def api_settings(**api: object) -> Settings:
    settings = Settings()
    settings.api.rate_limit = 0  # tests of the limit set it themselves
    for key, value in api.items():
        setattr(settings.api, key, value)
    return settings


@contextlib.contextmanager
def running_api(tmp_path: Path, settings: Settings | None = None) -> Iterator[ApiUnderTest]:
    settings = settings or api_settings()
    engine = Engine(tmp_path / "ops.duckdb", settings, admin_channel=False)
    try:
        app = create_app(engine, settings)
        services: ApiServices = app.state.services
        tokens = {role: services.keys.create(role, f"test {role}").token for role in
                  ("viewer", "operator", "admin")}  # fmt: skip
        with TestClient(app, raise_server_exceptions=False) as client:
            yield ApiUnderTest(client, engine, services, tokens)
    finally:
        engine.close()


def assert_problem(response, status: int, *, field: str | None = None) -> dict:
    """The response is an RFC 9457 problem with ``status`` (and an error on ``field``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("urn:opsengine:problem:")
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert field in fields, body
    return body


START_TIMEOUT_S = 120  # generous: a cold start compiles the rule pack on a shared machine


class RunningEngine:
    def __init__(self, cwd: Path, *args: str, extra_env: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            "OPSENGINE_FILES_ENABLED": "false",
            "OPSENGINE_SYSLOG_ENABLED": "false",
            "OPSENGINE_HOST_ENABLED": "false",
            **(extra_env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opsengine.cli", "run", "--port", "0", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.ready = threading.Event()
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for t in self._readers:
            t.start()
        if not self.ready.wait(START_TIMEOUT_S):
            self.proc.kill()
            pytest.fail("opsengine run did not start:\n" + "".join(self.lines))
        banner = "".join(self.lines)
        self.url = re.search(r"api:\s+(http://127\.0\.0\.1:\d+)", banner).group(1)
        token = re.search(r"admin token: (\S+)", banner)
        self.token = token.group(1) if token else None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("Ctrl-C"):
                self.ready.set()
        self.ready.set()

    def call(
        self, method: str, path: str, token: str, body: bytes | None = None, ctype="text/plain"
    ):
        req = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the process printed."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        for t in self._readers:
            t.join(timeout=30)
        return self.proc.returncode, "".join(self.lines) + "".join(self.errors)
