"""Hostile bodies: input built to crash or stall a decoder gets a short 4xx, never a crash.

The deep-nesting test runs the app in a child process: a segfault in a native decoder then
fails the test (the child's exit code) instead of killing the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.api_helpers import assert_problem, running_api

DEPTH = 10_000


def deep(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from tests.support.api_helpers import running_api

    d = {depth}
    bodies = [
        ("/api/v1/ingest/logs", "application/x-ndjson",
         b'{{"line":"x","host":' + b"[" * d + b"]" * d + b"}}\\n"),
        ("/api/v1/ingest/logs", "application/x-ndjson",
         b'{{"line":"x"}}\\n' * 3 + b'{{"line":"x","host":' + b"{{" * d + b"}}" * d + b"}}\\n"),
    ]
    out = []
    with running_api(Path({tmp!r})) as api:
        for path, ctype, body in bodies:
            r = api.post(path, role="operator", content=body, headers={{"content-type": ctype}})
            out.append([r.status_code, r.headers.get("content-type"), r.json()["detail"]])
        n = api.engine.query("SELECT count(*) AS n FROM logs").column("n")[0].as_py()
    print(json.dumps({{"answers": out, "stored": n}}))
    """
)


def test_ndjson_nested_ten_thousand_deep_is_refused_without_crashing(tmp_path: Path):
    script = CHILD.format(tests=str(Path(__file__).parents[2]), depth=DEPTH, tmp=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"the engine died ({proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for status, ctype, detail in result["answers"]:
        assert status == 400
        assert ctype.startswith("application/problem+json")
        assert "nested" in detail and len(detail) < 200, detail
    assert result["stored"] == 0


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


@pytest.mark.parametrize(
    ("path", "ctype", "body"),
    [
        ("/api/v1/ingest/metrics", "application/json", b'[{"name":"x","value":1,"labels":'
         + deep() + b"}]"),
        ("/api/v1/ingest/metrics", "application/x-ndjson", b'{"name":"x","value":'
         + deep() + b"}\n"),
        ("/api/v1/ingest/alertmanager", "application/json", b'{"alerts":' + deep() + b"}"),
        ("/v1/logs", "application/json", b'{"resourceLogs":' + deep() + b"}"),
        ("/v1/metrics", "application/json", b'{"resourceMetrics":' + deep(3000) + b"}"),
    ],
)  # fmt: skip
def test_deep_json_on_every_json_decoder_is_a_short_400(api, path, ctype, body):
    r = api.post(path, role="operator", content=body, headers={"content-type": ctype})
    problem = assert_problem(r, 400, field="body")
    assert "nested" in problem["detail"] and len(problem["detail"]) < 200


def test_nesting_just_within_the_bound_is_judged_on_its_content(api):
    # 60 levels: measured, then refused by the field check (not as too deep), named.
    body = b'{"line":"x","host":' + deep(60) + b"}\n"
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=body,
        headers={"content-type": "application/x-ndjson"},
    )  # fmt: skip
    problem = assert_problem(r, 422, field="$.host")
    assert len(problem["detail"]) < 200


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    line = json.dumps({"line": "[" * 500 + ' "quoted \\" ' + "{" * 500, "host": "web1"})
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=(line + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


DEEP_YAML = "- name: deep\n  labels: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"


def test_deep_yaml_rule_file_is_a_422_naming_the_line(api):
    r = api.post(
        "/api/v1/rules/validate", role="viewer", content=DEEP_YAML.encode(),
        headers={"content-type": "application/yaml"},
    )  # fmt: skip
    problem = assert_problem(r, 422, field="body:line 2")
    assert "nested more than" in problem["detail"]


def test_rules_check_on_deep_yaml_names_the_file_and_exits_2(tmp_path: Path):
    f = tmp_path / "deep.yaml"
    f.write_text(DEEP_YAML)
    proc = subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "rules", "check", str(f)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"{f}:2" in proc.stderr and "nested more than" in proc.stderr
    assert "Traceback" not in proc.stderr


ONE_RULE = """
- name: disk_full
  kind: log
  severity: high
  category: availability
  summary: Disk full
  pattern: 'literal:No space left on device'
"""


def test_rule_validation_runs_off_the_event_loop(api, monkeypatch):
    """While a rule file is being validated, /health and ingest are answered."""
    import threading

    from opsengine.api.controllers import rules as rules_api

    started, release = threading.Event(), threading.Event()
    real = rules_api.parse_rule_text

    def held(text: str, file: str):
        started.set()
        assert release.wait(60), "validation was never released"
        return real(text, file=file)

    monkeypatch.setattr(rules_api, "parse_rule_text", held)
    answer: dict = {}

    def validate():
        answer["r"] = api.post(
            "/api/v1/rules/validate", role="viewer", content=ONE_RULE.encode(),
            headers={"content-type": "application/yaml"},
        )  # fmt: skip

    worker = threading.Thread(target=validate)
    worker.start()
    try:
        assert started.wait(60)
        # The validation is still running: on the event loop, nothing else would answer.
        assert api.client.get("/health").status_code == 200
        r = api.post(
            "/api/v1/ingest/logs", role="operator", content=b"a line\n",
            headers={"content-type": "text/plain"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert worker.is_alive()
    finally:
        release.set()
        worker.join(60)
    assert answer["r"].status_code == 200, answer["r"].text
    assert answer["r"].json()["rules"] == ["disk_full"]


def test_an_oversized_rule_file_is_a_413_stating_the_limit(api):
    r = api.post(
        "/api/v1/rules/validate", role="viewer", content=b"#" * ((1 << 20) + 1),
        headers={"content-type": "application/yaml"},
    )  # fmt: skip
    problem = assert_problem(r, 413)
    assert "1048576" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/logs?from=-99999999d", "query:from"),
        ("/api/v1/logs?to=%2B99999999999d", "query:to"),
        ("/api/v1/events?from=-99999999d", "query:from"),
        ("/api/v1/metrics/names?from=-99999999d", "query:from"),
        ("/api/v1/incidents/kpis?from=-99999999d", "query:from"),
        ("/api/v1/oncall?at=-99999999d", "query:at"),
        ("/api/v1/queries/log_volume/rows?from=-99999999d", None),
        ("/api/v1/queries/log_volume/rows?bucket=99999999999999999d", None),
    ],
)
def test_relative_times_that_overflow_are_a_4xx_naming_the_parameter(api, path, field):
    problem = assert_problem(api.get(path, role="admin"), 422, field=field)
    name = path.split("?")[1].split("=")[0]
    assert name in problem["detail"] and "out of range" in problem["detail"]


@pytest.mark.parametrize("ts", ["1e300", "-1e300", "1e19"])
def test_a_sample_time_past_the_year_9999_is_a_422_naming_the_field(api, ts):
    r = api.post(
        "/api/v1/ingest/metrics", role="operator",
        content=f'[{{"name":"x","value":1,"ts":{ts}}}]'.encode(),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    problem = assert_problem(r, 422, field="$[0].ts")
    assert "year 9999" in problem["detail"]


def test_metrics_content_type_names_its_charset_once(api):
    ctype = api.client.get("/metrics").headers["content-type"]
    assert ctype.count("charset") == 1 and ctype.startswith("text/plain; version=")


def test_a_body_over_the_limit_is_a_413_stating_the_limit(tmp_path):
    from tests.support.api_helpers import api_settings

    with running_api(tmp_path, api_settings(max_body_bytes=1000)) as small:
        r = small.post(
            "/api/v1/ingest/logs", role="operator", content=b"x\n" * 1000,
            headers={"content-type": "text/plain"},
        )  # fmt: skip
        assert "at most 1000 bytes" in assert_problem(r, 413)["detail"]


def test_gzip_log_and_metric_bodies_are_inflated(api):
    import gzip

    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=gzip.compress(b"zipped line\n"),
        headers={"content-type": "text/plain", "content-encoding": "gzip"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = api.post(
        "/api/v1/ingest/metrics", role="operator",
        content=gzip.compress(b'[{"name":"pz_zipped","value":1}]'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = api.post(
        "/api/v1/ingest/logs", role="operator", content=b"x\n",
        headers={"content-type": "text/plain", "content-encoding": "br"},
    )  # fmt: skip
    assert "Content-Encoding 'br'" in assert_problem(r, 415)["detail"]


def test_rule_name_errors_escape_control_and_bidi_characters(api):
    body = b'- name: "evil\\u202e\\u0007name"\n  kind: log\n'
    r = api.post(
        "/api/v1/rules/validate", role="viewer", content=body,
        headers={"content-type": "application/yaml"},
    )  # fmt: skip
    detail = assert_problem(r, 422)["detail"]
    assert "\u202e" not in detail and "\x07" not in detail
    assert "evil\\u202e\\x07name" in detail
