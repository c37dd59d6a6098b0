"""Secrets stay secret: webhook credentials are checked when saved, and no error message,
listing or log line shows a header value or a URL's token path."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.api_helpers import assert_problem, running_api
from tests.support.incidents_helpers import at, free_port

SECRET = "xoxb-s3cr3t-t0ken"


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"url": "https://hooks.example/x", "headers": {"Authorization": f"Bearer {SECRET}\r\nX: 1"}},
         "line break"),
        ({"url": "https://hooks.example/x", "headers": {"X-Token": f"{SECRET}\n"}}, "line break"),
        ({"url": f"https://hooks.example/services/{SECRET} x"}, "space"),
        ({"url": f"https://bot:{SECRET}@hooks.example/x"}, "user:password@"),
        ({"url": "https://hooks.example/x", "headers": {"Bad Name": SECRET}}, "header name"),
    ],
)  # fmt: skip
def test_a_channel_with_an_unsendable_secret_is_refused_when_saved_without_quoting_it(
    api, config, why
):
    r = api.client.put(
        "/api/v1/notification-channels/ops",
        headers=api.auth("admin"),
        json={"kind": "webhook", "config": config},
    )
    problem = assert_problem(r, 422)
    assert why in problem["detail"]
    assert SECRET not in r.text


def save_unchecked_channel(engine, config: dict) -> None:
    """A channel stored before the checks existed (as an upgraded engine may hold)."""
    with engine.store.transaction() as cur:
        cur.execute(
            "INSERT OR REPLACE INTO notification_channels VALUES (?, 'webhook', NULL, ?, ?)",
            ["ops", json.dumps(config), at("08:00")],
        )


@pytest.mark.parametrize(
    "config",
    [
        {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": f"Bearer {SECRET}\r\n"}},
        {"url": f"http://127.0.0.1:9/services/{SECRET} x"},
    ],
)
def test_send_errors_of_an_old_channel_show_no_secret_to_viewers_or_in_the_log(api, caplog, config):
    engine = api.engine
    save_unchecked_channel(engine, config)
    engine.notify.policies.set_policy("all", [{"targets": ["channel:ops"]}])
    with caplog.at_level(logging.INFO):
        engine.incidents.create("Payments failing", actor="carol", at=at("09:00"))
        engine.notify.tick(at("09:01"))
    listed = api.get("/api/v1/notifications", role="viewer")
    assert listed.status_code == 200, listed.text
    [n] = listed.json()["items"] if isinstance(listed.json(), dict) else listed.json()
    assert n["last_error"], n
    attempts = api.get(f"/api/v1/notifications/{n['key']}/attempts", role="viewer")
    assert attempts.status_code == 200 and attempts.json()[0]["error"]
    for text in (listed.text, attempts.text, caplog.text):
        assert SECRET not in text
    assert "Traceback" not in caplog.text


def test_errors_stored_before_scrubbing_are_scrubbed_when_listed(api):
    engine = api.engine
    config = {"url": f"http://127.0.0.1:{free_port()}/services/{SECRET}"}
    engine.notify.outbox.set_channel("ops", "webhook", config)
    engine.notify.policies.set_policy("all", [{"targets": ["channel:ops"]}])
    engine.incidents.create("Payments failing", actor="carol", at=at("09:00"))
    with engine.store.transaction() as cur:  # as an older engine recorded it
        cur.execute(
            "UPDATE notifications SET last_error = ?",
            [f"InvalidURL: URL can't contain control characters. '/services/{SECRET}'"],
        )
    text = api.get("/api/v1/notifications", role="viewer").text
    assert SECRET not in text and "InvalidURL" in text
