"""The README's "Embedded" example, run as written (only its two paths point into tmp_path)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

README = Path(__file__).resolve().parents[2] / "README.md"


def embedded_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Embedded", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_embedded_example_runs_and_answers(tmp_path, capsys):
    # Six failed SSH passwords from one address within a minute: sshd_failed_password's
    # threshold (5 in 1m) fires, and the alert opens an incident.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    lines = [
        f"{(start + timedelta(seconds=5 * i)):%b %e %H:%M:%S} bastion sshd[{100 + i}]: "
        f"Failed password for root from 203.0.113.7 port {40000 + i} ssh2"
        for i in range(6)
    ]
    auth_log = tmp_path / "auth.log"
    auth_log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code = embedded_example()
    assert '"ops.duckdb"' in code and '"/var/log/auth.log"' in code
    code = code.replace('"ops.duckdb"', repr(str(tmp_path / "ops.duckdb")))
    code = code.replace('"/var/log/auth.log"', repr(str(auth_log)))
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)

    assert isinstance(scope["mttr"], pa.Table) and scope["mttr"].num_rows == 1
    top = scope["top"]
    assert isinstance(top, pl.DataFrame)
    counts = dict(zip(top["rule"].to_list(), top["events"].to_list(), strict=True))
    assert counts["sshd_failed_password"] == 6
    printed = capsys.readouterr().out
    assert "Repeated failed SSH passwords from 203.0.113.7" in printed
