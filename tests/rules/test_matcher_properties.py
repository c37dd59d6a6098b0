"""Property tests: on generated rules and lines the matcher agrees with Python's `re`."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsengine import RuleSet

WORDS = ["error", "Error", "fail", "failed", "disk", "DISK", "for", "from", "user", "root", "kill"]
ALPHABET = "abcdefkrsuERSK01 :-[]=\u017f\u212a"

atoms = st.one_of(
    st.sampled_from(WORDS).map(re.escape),
    st.sampled_from([r"\d+", r"\S+", r"[a-f0-9]+", r"\s", ".", r"\w+", "(?:root|user)", "x?"]),
)


@st.composite
def patterns(draw):
    parts = draw(st.lists(atoms, min_size=1, max_size=4))
    group = draw(st.integers(min_value=-1, max_value=len(parts) - 1))
    if group >= 0:
        parts[group] = f"(?P<g{draw(st.integers(0, 2))}>{parts[group]})"
    sep = draw(st.sampled_from(["", " ", ".*", ": "]))
    return sep.join(parts)


@st.composite
def rule_sets(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    rules = []
    for i in range(n):
        pat = draw(patterns())
        # A group name may appear once per pattern.
        names = re.findall(r"\(\?P<(\w+)>", pat)
        if len(names) != len(set(names)):
            pat = re.sub(r"\(\?P<\w+>", "(", pat)
        rules.append(
            {
                "name": f"r{i}",
                "severity": "low",
                "category": "error",
                "summary": "s",
                "pattern": pat,
                "ignore_case": draw(st.booleans()),
            }
        )
    return rules


lines = st.lists(
    st.one_of(
        st.none(),
        st.text(alphabet=ALPHABET, max_size=40),
        st.lists(st.sampled_from([*WORDS, "1234", "7f", " ", ": "]), max_size=8).map(" ".join),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), lines)
def test_matches_equal_python_re(rules, text):
    try:
        rs = RuleSet.from_dicts(rules)
    except ValueError:
        return  # a generated pattern both engines reject is not interesting
    expected = []
    for i, line in enumerate(text):
        if line is None:
            continue
        for r in rules:
            m = re.search(r["pattern"], line, re.IGNORECASE if r["ignore_case"] else 0)
            if m:
                expected.append(
                    (i, r["name"], {k: v for k, v in m.groupdict().items() if v is not None})
                )
    batch = rs.match(pa.array(text, pa.string()), threads=1)
    data = batch.to_pydict()
    got = [
        (
            data["row"][k],
            data["rule"][k],
            {c: data[c][k] for c in rs.capture_columns if data[c][k] is not None},
        )
        for k in range(batch.num_rows)
    ]
    assert got == expected
