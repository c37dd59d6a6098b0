"""Bad input to configuration tracking: each is recorded with an error naming the path, and
the item's other files are still versioned."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from opsengine.config import Settings
from opsengine.engine import Engine


def _files(engine, name):
    return {f["path"].rsplit("/", 1)[-1]: f for f in engine.config.files(name)}


@pytest.fixture
def ok_file(tmp_path):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "ok.conf"
    path.write_text("Port 22\n")
    return path


def test_an_unreadable_path_is_recorded_by_name(tmp_path, ok_file):
    secret = tmp_path / "secret.conf"
    secret.write_text("Port 2222\n")
    secret.chmod(0)
    db = tmp_path / "ops.duckdb"
    script = (
        "import json, sys\n"
        "from opsengine.config import Settings\n"
        "from opsengine.engine import Engine\n"
        f"with Engine({str(db)!r}, Settings(), admin_channel=False) as e:\n"
        f"    e.config.track('sshd', [{str(ok_file)!r}, {str(secret)!r}], env='prod')\n"
        "    print(json.dumps(e.config.snapshot()))\n"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    [result] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [f"{secret}: permission denied"]
    with Engine(db, Settings(), admin_channel=False) as engine:
        files = _files(engine, "sshd")
        assert files["secret.conf"]["error"] == f"{secret}: permission denied"
        assert files["secret.conf"]["hash"] is None and files["secret.conf"]["mode"] == "0000"
        assert files["ok.conf"]["keys"] == {"Port": '"22"'}
        assert engine.config.versions("sshd")[0]["errors"] == 1


def test_a_binary_file_is_stored_as_its_hash_only(tmp_path, ok_file):
    blob = tmp_path / "etc" / "keystore.bin"
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    blob.write_bytes(data)
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("certs", [str(tmp_path / "etc" / "*")], env="prod")
        [result] = engine.config.snapshot()
        assert result["errors"] == []
        files = _files(engine, "certs")
        stored = files["keystore.bin"]
        assert stored["hash"] == hashlib.sha256(data).hexdigest()
        assert (stored["is_binary"], stored["content"], stored["keys"]) == (True, None, None)
        assert stored["size"] == len(data)
        assert files["ok.conf"]["content"] == "Port 22\n"
        blob.write_bytes(data + b"\x00")
        engine.config.snapshot()
        diff = engine.config.diff("certs")
        assert f"Binary file {blob} differs (sha256 {stored['hash']} → " in diff["unified"]
        assert [k["key"] for k in diff["keys"]] == [f"{blob}:(content)"]


def test_a_file_over_the_size_limit_is_refused_and_recorded(tmp_path, ok_file):
    huge = tmp_path / "huge.log"
    with open(huge, "wb") as f:
        f.truncate(100 * 1024 * 1024)  # 100 MB, sparse: no disk used
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("app", [str(huge), str(ok_file)], env="prod")
        [result] = engine.config.snapshot()
        limit = Settings().config.max_file_bytes
        assert result["errors"] == [f"{huge}: 104857600 bytes, over the limit of {limit} bytes"]
        files = _files(engine, "app")
        assert files["huge.log"]["hash"] is None and files["huge.log"]["size"] == 104857600
        assert files["ok.conf"]["hash"] is not None
        assert engine.query("SELECT count(*) AS n FROM config_blobs").to_pylist() == [{"n": 1}]
        # Growing further is the same refusal, not a new version every snapshot.
        os.truncate(huge, 101 * 1024 * 1024)
        assert [r["changed"] for r in engine.config.snapshot()] == [False]


def test_the_size_limit_is_a_setting(tmp_path, ok_file):
    settings = Settings()
    settings.config.max_file_bytes = 4
    with Engine(tmp_path / "ops.duckdb", settings, admin_channel=False) as engine:
        engine.config.track("app", [str(ok_file)], env="prod")
        [result] = engine.config.snapshot()
        assert result["errors"] == [f"{ok_file}: 8 bytes, over the limit of 4 bytes"]


def test_a_symlink_loop_is_recorded_by_name(tmp_path, ok_file):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.symlink_to(b)
    b.symlink_to(a)
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("loop", [str(a), str(ok_file)], env="prod")
        [result] = engine.config.snapshot()
        assert result["errors"] == [f"{a}: symlink loop"]
        assert _files(engine, "loop")["ok.conf"]["keys"] == {"Port": '"22"'}


def test_an_unparsable_file_is_kept_as_text_with_its_parse_error(tmp_path):
    conf = tmp_path / "app.yaml"
    conf.write_text("db:\n  host: a\n  port: [5432\n")
    missing = tmp_path / "nothing-*.yaml"
    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        engine.config.track("app", [str(conf), str(missing)], env="prod")
        [result] = engine.config.snapshot()
        assert result["errors"] == [f"{missing}: no file matches"]
        stored = _files(engine, "app")["app.yaml"]
        assert stored["content"] == conf.read_text() and stored["keys"] is None
        assert stored["parse_error"].startswith(f"{conf}:4: invalid YAML")


def test_unknown_items_and_versions_are_errors_naming_them(tmp_path, ok_file):
    from opsengine.config_mgmt import ConfigMgmtError, ItemNotFound

    with Engine(tmp_path / "ops.duckdb", Settings(), admin_channel=False) as engine:
        with pytest.raises(ItemNotFound, match="no such config item 'nope'"):
            engine.config.versions("nope")
        for env in ("staging", "prod"):
            engine.config.track("sshd", [str(ok_file)], env=env)
        with pytest.raises(ConfigMgmtError, match=r"env: item 'sshd' exists in several envs"):
            engine.config.versions("sshd")
        with pytest.raises(ItemNotFound, match="has no version yet"):
            engine.config.approve("sshd", "prod", actor="ann")
        engine.config.snapshot()
        with pytest.raises(ItemNotFound, match=r"from: no such version 7 of 'sshd' \(prod\)"):
            engine.config.diff("sshd", "prod", from_version=7)
        with pytest.raises(ConfigMgmtError, match=r"paths: 'etc/ok\.conf' is not an absolute path"):
            engine.config.track("x", ["etc/ok.conf"], env="prod")
        with pytest.raises(ConfigMgmtError, match="severity: expected one of"):
            engine.config.track("x", [str(ok_file)], env="prod", severity="urgent")
