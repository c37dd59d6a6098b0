"""One SQL gate for HTTP and the admin channel: only reads of the store, never the server's
files or the network, never the tables that hold secrets (their redacted views instead);
and DuckDB never downloads an extension at run time."""

from __future__ import annotations

import re
import socket

import pytest
from opsengine.store import Store
from opsengine.store.admin_channel import AdminChannel
from opsengine.store.admin_client import AdminChannelClient
from opsengine.store.sql_gate import WriteRefusedError

from tests.support.api_helpers import assert_problem, running_api

REFUSED = [
    ("SELECT * FROM read_text('/etc/passwd')", "read_text() reads files"),
    ("SELECT * FROM glob('/root/*')", "glob() reads files"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
    ("SELECT * FROM '/etc/passwd'", "is not a table of the store"),
    ("SELECT * FROM 'https://example.com/data.csv'", "is not a table of the store"),
    ("SELECT token_sha256 FROM api_keys", "read the view api_keys_public"),
    ("SELECT config FROM main.notification_channels", "notification_channels_public"),
    ("SELECT * FROM (SELECT * FROM API_KEYS)", "holds secrets"),
    ("INSTALL httpfs", "INSTALL statements are not read-only"),
    ("LOAD httpfs", "LOAD statements are not read-only"),
]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
@pytest.mark.parametrize(("sql", "why"), REFUSED)
def test_the_admin_channel_refuses_what_http_refuses(tmp_path, sql, why):
    with (
        Store(tmp_path / "s.duckdb") as store,
        AdminChannel(store) as channel,
        pytest.raises(WriteRefusedError, match=re.escape(why)),
    ):
        AdminChannelClient(channel.path).sql(sql)


@pytest.fixture
def api(tmp_path):
    with running_api(tmp_path) as api:
        yield api


@pytest.mark.parametrize(("sql", "why"), REFUSED)
def test_http_sql_refuses_files_urls_and_secret_tables(api, sql, why):
    problem = assert_problem(api.post("/api/v1/sql", json={"sql": sql}), 422)
    assert why in problem["detail"]


def test_the_redacted_views_show_keys_and_channels_without_secrets(api):
    api.engine.notify.outbox.set_channel(
        "ops", "webhook",
        {"url": "https://hooks.example/T0/s3cretpath", "headers": {"X-Token": "t0ken"}},
    )  # fmt: skip
    keys = api.post("/api/v1/sql", json={"sql": "SELECT * FROM api_keys_public ORDER BY role"})
    assert keys.status_code == 200, keys.text
    assert [r["role"] for r in keys.json()["rows"]] == ["admin", "operator", "viewer"]
    assert "token_sha256" not in keys.json()["columns"]
    channels = api.post("/api/v1/sql", json={"sql": "SELECT * FROM notification_channels_public"})
    assert channels.json()["rows"][0]["name"] == "ops"
    for secret in ("s3cretpath", "t0ken"):
        assert secret not in channels.text


def test_no_extension_is_installed_or_loaded_at_run_time(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        settings = dict(
            store.conn.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
