"""The embedded matcher API: inputs, outputs and bad input, through the real compiled core."""

from __future__ import annotations

import re

import opsengine
import pyarrow as pa
import pytest
from opsengine import RuleError, RuleSet


def rule(name, pattern, **kw):
    return {
        "name": name,
        "severity": "high",
        "category": "security",
        "summary": name,
        "pattern": pattern,
        **kw,
    }


SSH = rule("ssh_fail", r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<rhost>\S+)")
OOM = rule("oom", "literal:Out of memory", ignore_case=True)
SEG = rule("segfault", r"segfault at (?P<addr>[0-9a-f]+)")
LINES = [
    "sshd[1]: Failed password for root from 10.0.0.1 port 22",
    None,
    "kernel: OUT OF MEMORY: Killed process 12 (java)",
    "nothing here",
    "app[9]: segfault at 7f00 ip ... Failed password for invalid user bob from ::1",
]


@pytest.fixture
def rules():
    return RuleSet.from_dicts([SSH, OOM, SEG])


def test_match_returns_rows_rules_and_captures(rules):
    batch = rules.match(LINES)
    assert batch.schema.names == ["row", "rule", "user", "rhost", "addr"]
    assert batch.schema.field("row").type == pa.uint64()
    assert pa.types.is_dictionary(batch.schema.field("rule").type)
    assert batch.to_pydict() == {
        "row": [0, 2, 4, 4],
        "rule": ["ssh_fail", "oom", "ssh_fail", "segfault"],
        "user": ["root", None, "bob", None],
        "rhost": ["10.0.0.1", None, "::1", None],
        "addr": [None, None, None, "7f00"],
    }
    assert rules.count(LINES) == {"ssh_fail": 2, "oom": 1, "segfault": 1}
    assert len(rules) == 3 and rules.names == ["ssh_fail", "oom", "segfault"]


@pytest.mark.parametrize("type_", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_arrow_string_layout_gives_the_same_result(rules, type_):
    want = rules.match(LINES).to_pydict()
    assert rules.match(pa.array(LINES, type_)).to_pydict() == want
    chunked = pa.chunked_array([pa.array(LINES[:2], type_), pa.array(LINES[2:], type_)])
    assert rules.match(chunked).to_pydict() == want


def test_polars_and_duckdb_inputs(rules):
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    want = rules.match(LINES).to_pydict()
    assert rules.match(pl.Series("line", LINES)).to_pydict() == want
    con = duckdb.connect()
    con.execute("CREATE TABLE t(i INT, line VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(LINES)))
    rel = con.sql("SELECT line FROM t ORDER BY i")
    assert rules.match(rel).to_pydict() == want
    assert rules.match(rel.to_arrow_table().column(0)).to_pydict() == want


def test_binary_lines_that_are_not_utf8_are_matched_as_bytes(rules):
    raw = [b"\xff\xfe Failed password for root from 1.2.3.4", b"out of memory \xc3(", None]
    batch = rules.match(pa.array(raw, pa.binary()))
    assert batch.column("row").to_pylist() == [0, 1]
    assert batch.column("rule").to_pylist() == ["ssh_fail", "oom"]
    assert batch.column("user").to_pylist() == ["root", None]
    # A byte-level capture of invalid UTF-8 is repaired into valid text, not dropped.
    raw_rule = RuleSet.from_dicts([rule("raw", r"user=(?P<who>(?-u:[^ ])+)")])
    got = raw_rule.match(pa.array([b"user=r\xe9ot x"], pa.binary()))
    assert got.column("who").to_pylist() == ["r\ufffdot"]


def test_threads_do_not_change_the_result(rules):
    big = pa.array(LINES * 50_000)
    one = rules.match(big, threads=1)
    assert rules.match(big, threads=2).equals(one)
    assert rules.match(big, threads=8).equals(one)
    assert one.num_rows == 4 * 50_000
    assert one.column("row")[-1].as_py() == len(LINES) * 50_000 - 1


def test_empty_inputs_and_nulls(rules):
    assert rules.match([]).num_rows == 0
    assert rules.match(pa.array([], pa.string())).num_rows == 0
    assert rules.match(pa.array([None, None], pa.string())).num_rows == 0
    assert rules.count([]) == {"ssh_fail": 0, "oom": 0, "segfault": 0}
    empty = RuleSet.from_dicts([])
    assert len(empty) == 0
    assert empty.match(LINES).num_rows == 0
    assert empty.count(LINES) == {}


def test_a_10_mb_line(rules):
    line = "x" * 5_000_000 + " Failed password for admin from 9.9.9.9 " + "y" * 5_000_000
    batch = rules.match([line, "segfault at ff"])
    assert batch.column("rule").to_pylist() == ["ssh_fail", "segfault"]
    assert batch.column("user").to_pylist()[0] == "admin"


def test_invalid_regex_names_the_rule():
    with pytest.raises(RuleError) as e:
        RuleSet.from_dicts([SSH, rule("broken", r"Failed (password")])
    assert "rule 'broken'" in str(e.value)
    assert "invalid pattern" in str(e.value)
    assert e.value.rule == "broken" and e.value.line == 2


def test_lookaround_is_refused_with_the_rule_name():
    with pytest.raises(RuleError, match=r"rule 'peek'.*look-around"):
        RuleSet.from_dicts([rule("peek", r"error(?!s)")])


def test_non_text_input_is_a_type_error(rules):
    with pytest.raises(TypeError, match="string or binary"):
        rules.match(pa.array([1, 2, 3]))
    with pytest.raises(TypeError):
        rules.match(42)


def test_rule_without_literal_is_checked_on_every_line():
    rs = RuleSet.from_dicts([rule("digits", r"^\d+$"), SSH])
    assert rs.plan()["always_checked_rules"] == ["digits"]
    batch = rs.match(["123", "abc", "Failed password for a from b", "42"])
    assert batch.to_pydict()["row"] == [0, 2, 3]


def test_5000_rules_compile_and_match():
    rs = RuleSet.from_dicts(
        [rule(f"r{i}", f"event{i:05d} code=(?P<c{i}>\\d+)") for i in range(5000)]
    )
    assert len(rs) == 5000
    batch = rs.match(["x event04999 code=7", "event00000 code=1 event00001 code=2"])
    assert batch.to_pydict()["row"] == [0, 1, 1]
    assert batch.to_pydict()["rule"] == ["r4999", "r0", "r1"]
    assert batch.column("c4999").to_pylist() == ["7", None, None]


def test_too_many_rules_are_refused_clearly():
    n = opsengine._core.MAX_RULES + 1
    with pytest.raises(RuleError, match=r"at most \d+"):
        RuleSet.from_dicts([rule(f"r{i}", f"literal:event{i:06d}") for i in range(n)])


def test_case_insensitive_literal_respects_unicode_folding():
    # (?i)k also matches the Kelvin sign in both Rust regex and Python re.
    rs = RuleSet.from_dicts([rule("disk", "disk full", ignore_case=True)])
    lines = ["DISK FULL", "di\u017fk full", "dis\u212a full", "disk ful"]
    want = [i for i, s in enumerate(lines) if re.search("disk full", s, re.IGNORECASE)]
    assert rs.match(lines).column("row").to_pylist() == want == [0, 1, 2]


def test_case_sensitive_rule_is_not_fooled_by_the_case_folding_prefilter():
    rs = RuleSet.from_dicts(
        [rule("err", "literal:ERROR"), rule("err_any", "error", ignore_case=True)]
    )
    got = rs.match(["ERROR x", "error x", "Error x"]).to_pydict()
    assert list(zip(got["row"], got["rule"], strict=True)) == [
        (0, "err"),
        (0, "err_any"),
        (1, "err_any"),
        (2, "err_any"),
    ]
