"""Following log files: rotation by rename (plain and .gz) and copytruncate, restarts,
multi-line records, globs. Each poll is driven explicitly (``run_once``/``drain``)."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest
from opsengine.engine import Engine
from opsengine.sources.files import FileTailer, fingerprint_of


def _line(i: int) -> str:
    return f"Dec  1 10:00:{i % 60:02d} web1 app[42]: request {i:05d} done\n"


def _write(path, lines, mode="a"):
    with open(path, mode) as f:
        f.write("".join(lines))


def _messages(engine) -> list[str]:
    return [r["message"] for r in engine.query("SELECT message FROM logs ORDER BY id").to_pylist()]


def _expected(rng) -> list[str]:
    return [f"request {i:05d} done" for i in rng]


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "store.duckdb", admin_channel=False) as e:
        yield e


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(log, [_line(i) for i in range(10)])
    tailer = FileTailer(engine.logs, [str(log)])
    assert tailer.run_once() == 10
    _write(log, [_line(i) for i in range(10, 15)])  # written before the writer reopens
    os.rename(log, f"{log}.1")
    _write(log, [_line(i) for i in range(15, 20)])
    tailer.drain()
    assert _messages(engine) == _expected(range(20))
    row = engine.query("SELECT DISTINCT source, host, app, pid FROM logs").to_pylist()
    assert row == [{"source": str(log), "host": "web1", "app": "app", "pid": "42"}]


def test_copytruncate_resumes_the_copy_and_restarts_the_truncated_file(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(log, [_line(i) for i in range(10)])
    tailer = FileTailer(engine.logs, [str(log)])
    tailer.run_once()
    _write(log, [_line(i) for i in range(10, 13)])  # not read yet when rotation happens
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    _write(log, [_line(i) for i in range(13, 40)])  # grows past the old offset again
    tailer.drain()
    assert _messages(engine) == _expected(range(40))


def test_restart_finishes_a_file_rotated_and_gzipped_while_down(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(log, [_line(i) for i in range(10)])
    FileTailer(engine.logs, [str(log)]).run_once()  # this "process" then dies
    _write(log, [_line(i) for i in range(10, 25)])
    os.rename(log, f"{log}.1")
    with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.1")
    _write(log, [_line(i) for i in range(25, 30)])
    restarted = FileTailer(engine.logs, [str(log)])
    assert restarted.drain() == 20
    assert sorted(_messages(engine)) == _expected(range(30))
    # A third start finds everything stored: nothing twice.
    assert FileTailer(engine.logs, [str(log)]).drain() == 0


def test_first_start_skips_rotated_history_and_read_from_end_skips_the_backlog(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(f"{log}.1", [_line(i) for i in range(100, 105)])
    _write(log, [_line(i) for i in range(5)])
    FileTailer(engine.logs, [str(log)]).drain()
    assert _messages(engine) == _expected(range(5))

    other = tmp_path / "other.log"
    _write(other, [_line(i) for i in range(200, 203)])
    tailer = FileTailer(engine.logs, [str(other)], read_from="end")
    tailer.run_once()
    _write(other, [_line(203)])
    tailer.run_once()
    assert _messages(engine)[5:] == _expected([203])


def test_multiline_records_are_joined_and_a_record_is_stored_once_when_complete(engine, tmp_path):
    log = tmp_path / "java.log"
    start = r"\d{4}-\d{2}-\d{2} "
    trace = (
        "2024-05-01 10:00:00,001 ERROR [main] Boom\n"
        "java.lang.IllegalStateException: bad\n"
        "\tat com.example.A.run(A.java:10)\n"
        "\tat com.example.Main.main(Main.java:5)\n"
    )
    _write(log, ["2024-05-01 09:59:59,000 INFO [main] starting\n", trace])
    tailer = FileTailer(engine.logs, [str(log)], multiline_start=start)
    # The trace may still grow: only the record before it is complete.
    assert tailer.run_once() == 1
    # A restart in between neither loses nor repeats the held record.
    tailer = FileTailer(engine.logs, [str(log)], multiline_start=start)
    _write(log, ["\tat java.base/Thread.run(Thread.java:1583)\n", "2024-05-01 10:00:01 INFO ok\n"])
    assert tailer.run_once() == 1
    raws = [r["raw"] for r in engine.query("SELECT raw FROM logs ORDER BY id").to_pylist()]
    assert len(raws) == 2
    assert raws[1].startswith("2024-05-01 10:00:00,001 ERROR [main] Boom\njava.lang.Illegal")
    assert raws[1].endswith("Thread.run(Thread.java:1583)")
    assert tailer.drain() == 1  # the last record, complete once the file is drained


def test_globs_follow_new_files_and_a_copy_is_not_stored_twice(engine, tmp_path):
    (tmp_path / "a.log").write_text(_line(1))
    tailer = FileTailer(engine.logs, [str(tmp_path / "*.log")])
    tailer.run_once()
    (tmp_path / "b.log").write_text(_line(2))
    shutil.copyfile(tmp_path / "a.log", tmp_path / "a-copy.log")  # same content: same file
    tailer.run_once()
    assert sorted(_messages(engine)) == _expected([1, 2])


def test_partial_last_line_waits_for_its_newline(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(log, [_line(1), "Dec  1 10:00:02 web1 app[42]: request 00002"])
    tailer = FileTailer(engine.logs, [str(log)])
    assert tailer.run_once() == 1
    _write(log, [" done\n"])
    assert tailer.run_once() == 1
    assert _messages(engine) == _expected([1, 2])


def test_fingerprint_needs_a_complete_first_line():
    assert fingerprint_of(b"") is None
    assert fingerprint_of(b"half a line") is None
    assert fingerprint_of(b"a\nb") == fingerprint_of(b"a\nc")
    assert fingerprint_of(b"a\nb") != fingerprint_of(b"b\n")


def test_bad_settings_name_the_setting(engine):
    with pytest.raises(ValueError, match=r"files\.multiline_start"):
        FileTailer(engine.logs, ["x.log"], multiline_start="(")
    with pytest.raises(ValueError, match=r"files\.read_from"):
        FileTailer(engine.logs, ["x.log"], read_from="middle")


def test_a_file_rotated_before_its_first_line_was_stored_is_still_read(engine, tmp_path):
    log = tmp_path / "app.log"
    log.touch()
    FileTailer(engine.logs, [str(log)]).run_once()  # follows the empty file, then dies
    _write(log, [_line(i) for i in range(3)])
    os.rename(log, f"{log}.1")
    _write(log, [_line(3)])
    assert FileTailer(engine.logs, [str(log)]).drain() == 4
    assert sorted(_messages(engine)) == _expected(range(4))


def test_a_glob_matching_rotated_files_reads_them_as_rotated(engine, tmp_path):
    log = tmp_path / "app.log"
    _write(log, [_line(i) for i in range(3)])
    tailer = FileTailer(engine.logs, [f"{log}*"])
    tailer.run_once()
    os.rename(log, f"{log}.1")
    _write(log, [_line(3)])
    tailer.drain()
    rows = engine.query("SELECT DISTINCT source FROM logs").to_pylist()
    assert sorted(_messages(engine)) == _expected(range(4))
    assert rows == [{"source": str(log)}]


def test_logs_with_a_fixed_header_line_need_two_fingerprint_lines(engine, tmp_path):
    log = tmp_path / "access.csv"
    header = "time,host,message\n"
    _write(log, [header, "1,web1,first file\n"])
    tailer = FileTailer(engine.logs, [str(log)], fingerprint_lines=2)
    tailer.run_once()
    os.rename(log, f"{log}.1")
    _write(log, [header, "2,web1,second file\n"])  # same first line, another file
    tailer.drain()
    raws = [r["raw"] for r in engine.query("SELECT raw FROM logs ORDER BY id").to_pylist()]
    assert raws == [header.strip(), "1,web1,first file", header.strip(), "2,web1,second file"]
    with pytest.raises(ValueError, match=r"files\.fingerprint_lines"):
        FileTailer(engine.logs, [str(log)], fingerprint_lines=0)


def test_tail_command_once_and_its_bad_input(tmp_path, capsys, monkeypatch):
    from opsengine.cli import main

    monkeypatch.setenv("OPSENGINE_CONFIG", str(tmp_path / "none.toml"))
    log, db = tmp_path / "app.log", tmp_path / "cli.duckdb"
    _write(log, [_line(i) for i in range(3)])
    assert main(["tail", str(log), "--db", str(db), "--once"]) == 0
    assert "3 records stored" in capsys.readouterr().out
    assert main(["tail", str(log), "--db", str(db), "--once"]) == 0  # nothing twice
    assert "0 records stored" in capsys.readouterr().out
    assert main(["tail", str(log), "--db", str(db), "--once", "--multiline-start", "("]) == 2
    assert "files.multiline_start: invalid regex" in capsys.readouterr().err
