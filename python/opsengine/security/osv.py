"""OSV advisories from a directory (the layout of the public OSV dumps: one JSON file per
advisory) and their matching against installed packages.

Ranges follow the OSV specification's evaluation: a range's ``ECOSYSTEM`` events are
ordered by version (``introduced: "0"`` first); ``introduced`` makes the versions from it
on affected, ``fixed`` ends that at the fixed version, ``last_affected`` after it. Versions
order as the ecosystem's package manager orders them (``config_mgmt.versions``: dpkg for
Debian, PEP 440 for PyPI). Withdrawn advisories are skipped; a file that is not a valid
advisory is skipped and named, and the rest are read.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsengine.config_mgmt.versions import VersionError, compare, validate

#: OSV ecosystem (before any ':release') -> the inventory's package kind
ECOSYSTEMS = {"Debian": "deb", "PyPI": "python"}


@dataclass(slots=True)
class Affected:
    kind: str  # deb | python
    name: str
    ranges: list[list[tuple[str, str]]]  # each: [(event, version)] in version order
    versions: list[str]
    severity: str | None


@dataclass(slots=True)
class Advisory:
    id: str
    file: str
    aliases: list[str]
    summary: str
    severity: str  # critical | high | medium | low | info
    score: float | None
    vector: str | None
    affected: list[Affected] = field(default_factory=list)


@dataclass(slots=True)
class AdvisorySet:
    advisories: list[Advisory]
    withdrawn: int
    skipped: list[dict[str, str]]  # {file, error}


def load(directory: str | Path) -> AdvisorySet:
    """Every ``*.json`` under ``directory`` (recursively)."""
    root = Path(directory)
    if not root.is_dir():
        raise OSError(f"{root}: the OSV directory does not exist or is not a directory")
    out = AdvisorySet([], 0, [])
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("withdrawn"):
                out.withdrawn += 1
                continue
            adv = parse(data, str(path))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            out.skipped.append({"file": str(path), "error": str(e)})
            continue
        if adv.affected:
            out.advisories.append(adv)
    return out


def parse(data: dict[str, Any], file: str) -> Advisory:
    """One advisory; ``ValueError`` names the JSON field that is wrong."""
    adv_id = data.get("id")
    if not isinstance(adv_id, str) or not adv_id:
        raise ValueError("$.id: missing or not a string")
    aliases = data.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError("$.aliases: not a list of strings")
    score, vector, severity = _severity(data.get("severity"), "$.severity")
    if severity is None:
        severity = _named_severity(data.get("database_specific"))
    affected_list = data.get("affected")
    if not isinstance(affected_list, list):
        raise ValueError("$.affected: missing or not a list")
    adv = Advisory(adv_id, file, aliases, str(data.get("summary") or data.get("details") or "")[:300],
                   severity or "medium", score, vector)  # fmt: skip
    for i, a in enumerate(affected_list):
        where = f"$.affected[{i}]"
        if not isinstance(a, dict) or not isinstance(a.get("package"), dict):
            raise ValueError(f"{where}.package: missing")
        eco = str(a["package"].get("ecosystem", "")).split(":", 1)[0]
        name = a["package"].get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.package.name: missing")
        kind = ECOSYSTEMS.get(eco)
        if kind is None:
            continue  # an ecosystem the inventory does not collect
        ranges = []
        for j, r in enumerate(a.get("ranges") or []):
            if not isinstance(r, dict) or r.get("type") != "ECOSYSTEM":
                continue  # GIT and SEMVER ranges do not describe distribution packages
            ranges.append(_events(kind, r.get("events"), f"{where}.ranges[{j}].events"))
        versions = a.get("versions") or []
        if not isinstance(versions, list):
            raise ValueError(f"{where}.versions: not a list")
        for k, v in enumerate(versions):
            _valid(kind, v, f"{where}.versions[{k}]")
        sev = _named_severity(a.get("ecosystem_specific")) or _named_severity(
            a.get("database_specific")
        )
        _, _, own = _severity(a.get("severity"), f"{where}.severity")
        name = _pep503(name) if kind == "python" else name
        adv.affected.append(Affected(kind, name, ranges, list(versions), own or sev))
    return adv


def _valid(kind: str, version: Any, where: str) -> str:
    if not isinstance(version, str):
        raise ValueError(f"{where}: not a string")
    try:
        return validate(kind, version)
    except VersionError as e:
        raise ValueError(f"{where}: {e}") from None


def _events(kind: str, events: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(events, list) or not events:
        raise ValueError(f"{where}: missing or empty")
    out = []
    for n, ev in enumerate(events):
        if not isinstance(ev, dict) or len(ev) != 1:
            raise ValueError(f"{where}[{n}]: expected one of introduced, fixed, last_affected")
        (name, version), = ev.items()  # fmt: skip
        if name == "limit":
            continue
        if name not in ("introduced", "fixed", "last_affected"):
            raise ValueError(f"{where}[{n}]: unknown event {name!r}")
        if not (name == "introduced" and version == "0"):
            _valid(kind, version, f"{where}[{n}].{name}")
        out.append((name, version))

    def order(a: tuple[str, str], b: tuple[str, str]) -> int:
        if a[1] == "0" or b[1] == "0":
            return (b[1] == "0") - (a[1] == "0")
        return compare(kind, a[1], b[1])

    return sorted(out, key=functools.cmp_to_key(order))


def affected_by(a: Affected, version: str) -> tuple[bool, str | None]:
    """Whether ``version`` is affected, and the fixed version of the range that holds it."""
    for listed in a.versions:
        if compare(a.kind, version, listed) == 0:
            return True, _next_fix(a, version)
    for events in a.ranges:
        hit = False
        for name, v in events:
            if name == "introduced":
                if v == "0" or compare(a.kind, version, v) >= 0:
                    hit = True
            elif name == "fixed":
                if compare(a.kind, version, v) >= 0:
                    hit = False
            elif compare(a.kind, version, v) > 0:  # last_affected
                hit = False
        if hit:
            fixes = [v for n, v in events if n == "fixed" and compare(a.kind, v, version) > 0]
            return True, fixes[0] if fixes else None
    return False, None


def _next_fix(a: Affected, version: str) -> str | None:
    fixes = [v for r in a.ranges for n, v in r if n == "fixed" and compare(a.kind, v, version) > 0]
    return min(fixes, key=functools.cmp_to_key(lambda x, y: compare(a.kind, x, y)), default=None)


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_names(kind: str, name: str, detail: dict[str, Any]) -> set[str]:
    """The names an advisory may use for an installed package: binary and source (Debian
    advisories name source packages), or the PEP 503 name."""
    if kind == "python":
        return {_pep503(name)}
    names = {name.split(":", 1)[0]}
    if detail.get("source"):
        names.add(str(detail["source"]).split(" ", 1)[0])
    return names


# -- severity -----------------------------------------------------------------------------
_NAMED = {"critical": "critical", "high": "high", "important": "high", "medium": "medium",
          "moderate": "medium", "low": "low", "negligible": "info", "unimportant": "info"}  # fmt: skip


def _named_severity(block: Any) -> str | None:
    if isinstance(block, dict) and isinstance(block.get("severity"), str):
        return _NAMED.get(block["severity"].strip().lower())
    return None


def _severity(entries: Any, where: str) -> tuple[float | None, str | None, str | None]:
    if entries is None:
        return None, None, None
    if not isinstance(entries, list):
        raise ValueError(f"{where}: not a list")
    for n, e in enumerate(entries):
        if isinstance(e, dict) and e.get("type") == "CVSS_V3":
            score = cvss3_score(str(e.get("score", "")), f"{where}[{n}].score")
            return score, e["score"], severity_of(score)
    return None, None, None


def severity_of(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "info"


_W = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
}


def _roundup(x: float) -> float:
    i = round(x * 100_000)
    return i / 100_000.0 if i % 10_000 == 0 else (math.floor(i / 10_000) + 1) / 10.0


def cvss3_score(vector: str, where: str) -> float:
    """The CVSS 3.x base score of a vector such as ``CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H``."""
    parts = vector.split("/")
    if not parts[0].startswith("CVSS:3"):
        raise ValueError(f"{where}: not a CVSS 3 vector: {vector!r}")
    m = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    try:
        changed = m["S"] == "C"
        pr = {"N": 0.85, "L": 0.68 if changed else 0.62, "H": 0.5 if changed else 0.27}[m["PR"]]
        av, ac, ui = _W["AV"][m["AV"]], _W["AC"][m["AC"]], _W["UI"][m["UI"]]
        c, i, a = (_W["C"][m[k]] for k in ("C", "I", "A"))
    except KeyError as e:
        raise ValueError(f"{where}: bad or missing metric {e} in {vector!r}") from None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(min(total, 10.0))
