"""Version ordering as the package managers define it: Debian's (dpkg) and Python's (PEP 440).

``compare_dpkg(a, b)`` follows dpkg's ``verrevcmp`` exactly: a version is
``[epoch:]upstream[-revision]``; the epoch compares as a number, then upstream and
revision each compare as alternating runs of non-digits (letters sort before other
characters, and ``~`` before everything, even the end of the string) and digits
(numerically). ``1:1.0`` > ``2.0``, ``1.0~rc1`` < ``1.0``, ``1.0`` == ``1.0-0``.
Wazuh, grype and Dependency-Track each shipped false positives by comparing Debian
versions as strings or as semver; this module is tested against ``dpkg --compare-versions``.

``compare_pep440(a, b)`` uses ``packaging.version`` (pre-, post- and dev-releases, local
versions, epochs). ``compare(ecosystem, a, b)`` picks one by ecosystem (``deb`` | ``python``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

ECOSYSTEMS = ("deb", "python")


class VersionError(ValueError):
    """A version string that the ecosystem's rules cannot read; the message quotes it."""


@dataclass(frozen=True, slots=True)
class DebianVersion:
    epoch: int
    upstream: str
    revision: str

    def __str__(self) -> str:
        text = f"{self.epoch}:{self.upstream}" if self.epoch else self.upstream
        return f"{text}-{self.revision}" if self.revision else text


_UPSTREAM_CHARS = re.compile(r"^[A-Za-z0-9.+~:-]+$")
_REVISION_CHARS = re.compile(r"^[A-Za-z0-9.+~]+$")


def parse_dpkg(text: str) -> DebianVersion:
    """Split ``[epoch:]upstream[-revision]`` as dpkg's ``parseversion`` does."""
    version = text.strip()
    if not version:
        raise VersionError("Debian version '': empty")
    if any(c.isspace() for c in version):
        raise VersionError(f"Debian version {text!r}: contains a space")
    epoch = 0
    head, colon, rest = version.partition(":")
    if colon:
        if not head.isdigit():
            raise VersionError(f"Debian version {text!r}: epoch {head!r} is not a number")
        epoch = int(head)
        if epoch > 2**31 - 1:
            raise VersionError(f"Debian version {text!r}: epoch {head} is too large")
        if not rest:
            raise VersionError(f"Debian version {text!r}: nothing after the epoch's ':'")
        version = rest
    upstream, dash, revision = version.rpartition("-")
    if not dash:
        upstream, revision = version, ""
    elif not revision:
        raise VersionError(f"Debian version {text!r}: empty revision after '-'")
    if not upstream:
        raise VersionError(f"Debian version {text!r}: empty upstream version")
    if not _UPSTREAM_CHARS.match(upstream):
        raise VersionError(f"Debian version {text!r}: invalid character in upstream version")
    if revision and not _REVISION_CHARS.match(revision):
        raise VersionError(f"Debian version {text!r}: invalid character in revision")
    return DebianVersion(epoch, upstream, revision)


def _order(c: str) -> int:
    """dpkg's ``order()``: weight of one non-digit character ('' is the string's end)."""
    if not c or c.isdigit():
        return 0
    if c.isascii() and c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _order(a[i]) if i < la and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < lb and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i].isdigit() and j < lb and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def compare_dpkg(a: str | DebianVersion, b: str | DebianVersion) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in dpkg's order."""
    va = a if isinstance(a, DebianVersion) else parse_dpkg(a)
    vb = b if isinstance(b, DebianVersion) else parse_dpkg(b)
    if va.epoch != vb.epoch:
        return _sign(va.epoch - vb.epoch)
    return _sign(_verrevcmp(va.upstream, vb.upstream) or _verrevcmp(va.revision, vb.revision))


def parse_pep440(text: str) -> Version:
    try:
        return Version(text.strip())
    except InvalidVersion:
        raise VersionError(f"Python version {text!r}: not a PEP 440 version") from None


def compare_pep440(a: str | Version, b: str | Version) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` under PEP 440."""
    va = a if isinstance(a, Version) else parse_pep440(a)
    vb = b if isinstance(b, Version) else parse_pep440(b)
    return (va > vb) - (va < vb)


def compare(ecosystem: str, a: str, b: str) -> int:
    """Compare two versions of one ecosystem (``deb`` or ``python``)."""
    if ecosystem == "deb":
        return compare_dpkg(a, b)
    if ecosystem == "python":
        return compare_pep440(a, b)
    raise VersionError(f"ecosystem {ecosystem!r}: expected one of {', '.join(ECOSYSTEMS)}")


def validate(ecosystem: str, text: str) -> str:
    """``text`` if it is a valid version of ``ecosystem``, else :class:`VersionError`."""
    if ecosystem == "deb":
        parse_dpkg(text)
    else:
        parse_pep440(text)
    return text.strip()
