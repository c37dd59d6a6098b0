"""The OpenAPI document against the running API: schemathesis generates requests for every
operation of the ingest, search, rules, SQL and key routes and checks that none answers 5xx
and every answer matches what the document promises (schema and content type)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.support.api_helpers import RunningEngine

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("schemathesis") is None, reason="needs schemathesis (test extra)"
)

# The incident routes belong to their own tests; these are the API issue's routes.
ROUTES = r"^/(api/v1/(logs|events|alerts|queries|rules|sql|keys|audit|ingest)|v1/|health|metrics)"


def test_no_operation_answers_5xx_or_breaks_its_schema(tmp_path):
    engine = RunningEngine(tmp_path, extra_env={"OPSENGINE_API_RATE_LIMIT": "0"})
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run",
                f"{engine.url}/schema/openapi.json",
                "--header", f"Authorization: Bearer {engine.token}",
                "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
                "--max-examples", "10", "--workers", "1", "--seed", "1",
                "--include-path-regex", ROUTES,
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        # the admin key was never revoked by the generated DELETEs: the last admin stays
        assert engine.call("GET", "/api/v1/keys", engine.token)[0] == 200
    finally:
        code, output = engine.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    assert code == 0, output
