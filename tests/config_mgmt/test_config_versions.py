"""Version ordering as the package managers define it: checked against the real
``dpkg --compare-versions`` on generated pairs, and against ``packaging`` for PEP 440."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from opsengine.config_mgmt.versions import (
    VersionError,
    compare,
    compare_dpkg,
    compare_pep440,
    parse_dpkg,
)
from packaging.version import Version

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")

_PARTS = ["0", "1", "2", "9", "10", "010", "99", "a", "b", "z", "rc", "beta", "+", ".", "~", "~~"]


def _upstream(rng: random.Random) -> str:
    text = str(rng.choice([0, 1, 2, 3, 10]))  # dpkg wants upstream to start with a digit
    for _ in range(rng.randint(0, 4)):
        part = rng.choice(_PARTS)
        text += part if part in "+.~~" else rng.choice([".", "", "+", "~"]) + part
    return text


def _revision(rng: random.Random) -> str:
    text = rng.choice(["0", "1", "2", "10", "1ubuntu1", "0+deb12u1", "1~bpo11+1", "2.1"])
    if rng.random() < 0.3:
        text += rng.choice(["~", "+", "."]) + rng.choice(["1", "a", "b2"])
    return text


def _version(rng: random.Random) -> str:
    v = _upstream(rng)
    if rng.random() < 0.5:
        v = f"{v}-{_revision(rng)}"
    if rng.random() < 0.25:
        v = f"{rng.choice([0, 1, 2, 10])}:{v}"
    return v


def _pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = _version(rng)
        # Half the pairs are near each other: same prefix, one part changed.
        b = (
            _version(rng)
            if rng.random() < 0.5
            else a + rng.choice(["~1", "1", ".0", "a", "-1", "~"])
        )
        out.append((a, b))
    return out


def _dpkg_orders(pairs: list[tuple[str, str]]) -> list[int]:
    """Ask the real dpkg for each pair, in one shell so the check stays quick."""
    script = "".join(
        f"if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; "
        f"elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi\n"
        for a, b in pairs
    )
    done = subprocess.run(
        ["sh", "-s"], input=script, capture_output=True, text=True, check=True, timeout=600
    )
    assert done.stderr == ""  # dpkg warns about any version it finds malformed
    return [int(x) for x in done.stdout.split()]


@needs_dpkg
def test_dpkg_order_matches_dpkg_compare_versions_on_generated_pairs():
    pairs = _pairs(400, seed=20261207)
    # The generator must exercise what goes wrong elsewhere: epochs, tildes, revisions.
    assert sum(":" in a + b for a, b in pairs) > 50
    assert sum("~" in a + b for a, b in pairs) > 50
    assert sum("-" in a + b for a, b in pairs) > 100
    expected = _dpkg_orders(pairs)
    assert len(expected) == len(pairs)
    assert set(expected) == {-1, 0, 1}
    wrong = [
        (a, b, want, compare_dpkg(a, b))
        for (a, b), want in zip(pairs, expected, strict=True)
        if compare_dpkg(a, b) != want
    ]
    assert wrong == []


@needs_dpkg
def test_dpkg_order_on_the_cases_that_trip_string_and_semver_comparisons():
    pairs = [
        ("1:1.0", "2.0"),  # the epoch wins
        ("1.0~rc1", "1.0"),  # a tilde sorts before the end
        ("1.0~~", "1.0~"),
        ("1.0", "1.0-0"),  # no revision is revision 0
        ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
        ("3.0.13-1~deb12u1", "3.0.13-1"),
        ("1.10", "1.9"),  # numbers compare as numbers
        ("1.0a", "1.0+"),  # letters sort before other characters
        ("0:1.2", "1.2"),
        ("1.2-1.1", "1.2-1a"),
        ("2.30-0ubuntu1", "2.30-0ubuntu1.1"),
    ]
    assert [compare_dpkg(a, b) for a, b in pairs] == _dpkg_orders(pairs)


def test_pep440_order_agrees_with_packaging_on_generated_pairs():
    rng = random.Random(440)
    forms = ["{a}.{b}", "{a}.{b}.{c}", "{a}.{b}rc{c}", "{a}.{b}.post{c}", "{a}.{b}.dev{c}",
             "{a}!{b}.{c}", "{a}.{b}a{c}", "{a}.{b}+local.{c}", "{a}.{b}b{c}.post1.dev2"]  # fmt: skip
    versions = [
        rng.choice(forms).format(a=rng.randint(0, 3), b=rng.randint(0, 12), c=rng.randint(0, 5))
        for _ in range(300)
    ]
    for a, b in zip(versions, reversed(versions), strict=True):
        want = (Version(a) > Version(b)) - (Version(a) < Version(b))
        assert compare_pep440(a, b) == want, (a, b)
    assert compare("python", "2.32.0", "2.32") == 0
    assert compare("python", "2.32.0rc1", "2.32") == -1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("a:1.0", "epoch 'a' is not a number"),
        ("1:", "nothing after the epoch"),
        ("1.0-", "empty revision"),
        ("1.0 2", "contains a space"),
        ("1.0_x", "invalid character in upstream"),
        ("1.0-a_b", "invalid character in revision"),
    ],
)
def test_invalid_debian_versions_are_errors_quoting_them(text, message):
    with pytest.raises(VersionError, match=message) as e:
        parse_dpkg(text)
    assert repr(text) in str(e.value)


def test_invalid_python_versions_and_ecosystems_are_errors():
    with pytest.raises(VersionError, match="'not a version': not a PEP 440"):
        compare_pep440("not a version", "1.0")
    with pytest.raises(VersionError, match="ecosystem 'rpm'"):
        compare("rpm", "1", "2")
