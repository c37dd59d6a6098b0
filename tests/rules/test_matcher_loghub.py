"""The matcher against Python's `re`, line by line, on all 16 real loghub logs.

For every rule of the default pack: the (row, rule) pairs and every named
capture must equal what `re.search` gives on each line.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from tests.support.loghub import DATASETS, loghub_lines, needs_loghub


def re_reference(rules, lines):
    compiled = []
    for r in rules.log_rules:
        src = re.escape(r.pattern) if r.literal else r.pattern
        compiled.append((r.name, re.compile(src, re.IGNORECASE if r.ignore_case else 0)))
    out = []
    for i, line in enumerate(lines):
        for name, rx in compiled:
            m = rx.search(line)
            if m:
                out.append((i, name, {k: v for k, v in m.groupdict().items() if v is not None}))
    return out


def engine_result(rules, lines, threads):
    batch = rules.match(pa.array(lines, pa.string()), threads=threads)
    cols = rules.capture_columns
    data = batch.to_pydict()
    out = []
    for k in range(batch.num_rows):
        caps = {c: data[c][k] for c in cols if data[c][k] is not None}
        out.append((data["row"][k], data["rule"][k], caps))
    return out


@needs_loghub
@pytest.mark.parametrize("dataset", DATASETS)
def test_default_pack_equals_python_re(default_rules, dataset):
    lines = loghub_lines(dataset)
    expected = re_reference(default_rules, lines)
    got = engine_result(default_rules, lines, threads=1)
    assert got == expected
    assert engine_result(default_rules, lines, threads=2) == expected
    counts = default_rules.count(pa.array(lines))
    for _, name, _ in expected:
        counts[name] -= 1
    assert not any(counts.values()), "count() disagrees with match()"


@needs_loghub
def test_default_pack_fires_across_the_corpus(default_rules):
    """A pack that matches nothing would make the equality test vacuous."""
    fired = set()
    datasets_with_hits = 0
    for d in DATASETS:
        c = default_rules.count(loghub_lines(d))
        hits = {k for k, v in c.items() if v}
        fired |= hits
        datasets_with_hits += bool(hits)
    assert datasets_with_hits >= 14
    assert len(fired) >= 40
