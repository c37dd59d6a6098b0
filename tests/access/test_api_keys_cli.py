"""``opsengine keys create|list|revoke`` as a real subprocess against a real DuckDB file."""

from __future__ import annotations

import subprocess
import sys

import duckdb
from opsengine.access.keys import KeyStore
from opsengine.store import Store

from tests.support.api_helpers import running_api


def keys(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opsengine.cli", "keys", *args, "--db", str(tmp_path / "k.duckdb")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_keys_are_created_listed_and_revoked_from_the_command_line(tmp_path):
    made = keys(tmp_path, "create", "--role", "operator", "--name", "ci pipeline")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("oek_") and "\n" not in token  # the token alone on stdout
    key_id = token.split("_")[1]
    assert f"operator key {key_id}" in made.stderr and "shown once" in made.stderr

    listed = keys(tmp_path, "list")
    assert listed.returncode == 0 and key_id in listed.stdout and "ci pipeline" in listed.stdout
    assert token not in listed.stdout

    with Store(tmp_path / "k.duckdb") as store:
        key, why = KeyStore(store).authenticate(token)
        assert (key.role, why) == ("operator", "")

    revoked = keys(tmp_path, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert key_id not in keys(tmp_path, "list", "--active").stdout
    with Store(tmp_path / "k.duckdb") as store:
        assert KeyStore(store).authenticate(token) == (None, f"key {key_id} was revoked")

    with duckdb.connect(str(tmp_path / "k.duckdb"), read_only=True) as con:
        actions = [r[0] for r in con.execute("SELECT action FROM audit_log ORDER BY ts").fetchall()]
    assert actions == [f"keys create {key_id}", f"keys revoke {key_id}"]


def test_bad_key_commands_exit_2_naming_the_problem(tmp_path):
    r = keys(tmp_path, "create", "--role", "root")
    assert r.returncode == 2 and "invalid choice: 'root'" in r.stderr
    r = keys(tmp_path, "revoke", "ffffffffffff")
    assert r.returncode == 2 and "no API key with id 'ffffffffffff'" in r.stderr


def test_while_the_engine_holds_the_file_keys_point_to_the_api(tmp_path):
    with running_api(tmp_path):
        r = subprocess.run(
            [sys.executable, "-m", "opsengine.cli", "keys", "list", "--db",
             str(tmp_path / "ops.duckdb")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    # DuckDB allows one writing process per file: the CLI says where to go instead
    assert r.returncode == 1, r.stdout + r.stderr
    assert "locked by another process" in r.stderr and "/api/v1/keys" in r.stderr
