"""pytest-benchmark entry points for log-rule matching: opsengine and its peers, same rules, same lines.

Run: ``pytest python/opsengine/bench/bench_matcher.py --benchmark-only`` (the README table comes from
``opsengine bench``, which runs the same measurements and prints ratios).
"""

from __future__ import annotations

import re

import pytest

from opsengine import RuleSet
from opsengine.bench.corpus import find_loghub, loghub_lines, replicated
from opsengine.bench.matcher import python_patterns

try:
    LOGHUB = find_loghub()
except FileNotFoundError as e:  # pragma: no cover - depends on the checkout
    pytest.skip(str(e), allow_module_level=True)


@pytest.fixture(scope="module")
def rules():
    return RuleSet.default()


@pytest.fixture(scope="module")
def corpus():
    return replicated(loghub_lines(LOGHUB), 100 * 10**6)


@pytest.mark.parametrize("threads", [1, 2])
def test_opsengine_match(benchmark, rules, corpus, threads):
    benchmark.extra_info["mb"] = corpus.nbytes / 1e6
    batch = benchmark(rules.match, corpus, threads=threads)
    assert batch.num_rows > 0


def test_polars_contains_one_thread_slice(benchmark, rules, corpus):
    pl = pytest.importorskip("polars")
    lines = pl.Series("line", corpus.slice(0, 20_000))
    df = pl.DataFrame({"line": lines})
    exprs = [
        pl.col("line").str.contains(("(?i)" if ic else "") + p).sum().alias(n)
        for n, p, ic in python_patterns(rules)
    ]
    benchmark(df.select, exprs)


def test_python_re_per_rule_slice(benchmark, rules, corpus):
    lines = corpus.slice(0, 2_000).to_pylist()
    compiled = [re.compile(p, re.I if ic else 0) for _, p, ic in python_patterns(rules)]
    benchmark(lambda: sum(1 for rx in compiled for s in lines if rx.search(s)))
