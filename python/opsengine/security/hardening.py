"""Hardening checks declared in YAML (``hardening.yaml``): the effective ``sshd_config``
settings, world-writable files and private keys readable by others under tracked paths.

``sshd_settings()`` reads sshd_config as sshd does: keywords are case-insensitive, the
first value obtained wins, ``Include`` (globs, relative to /etc/ssh) is read in place, and
a ``Match`` block's settings are conditional, so they are not effective globally. Each
value keeps the file and line it came from. A file that cannot be read is a check error,
reported with its path; the checks that depended on it are not judged.
"""

from __future__ import annotations

import glob
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from opsengine.security.models import SEVERITIES

TYPES = ("sshd_option", "world_writable", "private_key_readable")


@dataclass(frozen=True, slots=True)
class Failure:
    check: str
    subject: str  # the file the finding is about
    severity: str
    title: str
    evidence: dict[str, Any]


def load_checks(text: str | None = None) -> list[dict[str, Any]]:
    if text is None:
        text = resources.files("opsengine.security").joinpath("hardening.yaml").read_text()
    checks = yaml.safe_load(text) or []
    if not isinstance(checks, list):
        raise ValueError("hardening checks: expected a list")
    for n, c in enumerate(checks, 1):
        where = f"hardening check #{n}"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ValueError(f"{where}: name: missing")
        if c.get("type") not in TYPES:
            raise ValueError(f"{where} ({c['name']}): type: expected one of {', '.join(TYPES)}")
        if c.get("severity") not in SEVERITIES:
            raise ValueError(
                f"{where} ({c['name']}): severity: expected one of {', '.join(SEVERITIES)}"
            )
        if c["type"] == "sshd_option" and not isinstance(c.get("option"), str):
            raise ValueError(f"{where} ({c['name']}): option: missing")
    return checks


def sshd_settings(path: str | Path) -> dict[str, tuple[str, str, int]]:
    """keyword (lower case) -> (value, file, line) as sshd takes them; OSError names the file."""
    out: dict[str, tuple[str, str, int]] = {}
    _read_sshd(Path(path), out, depth=0)
    return out


def _read_sshd(path: Path, out: dict[str, tuple[str, str, int]], depth: int) -> bool:
    """Returns False once a Match block starts (the rest is conditional)."""
    if depth > 16:
        raise OSError(f"{path}: Include nested too deeply (a loop?)")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise OSError(f"{path}: cannot read sshd_config: {e.strerror or e}") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.replace("=", " ", 1).partition(" ")
        key, value = key.lower(), value.strip().strip('"')
        if key == "match":
            return False
        if key == "include":
            for pattern in value.split():
                full = pattern if pattern.startswith("/") else str(Path("/etc/ssh") / pattern)
                if not pattern.startswith("/") and (path.parent / pattern).parent.exists():
                    full = str(path.parent / pattern)  # a config tree outside /etc/ssh
                for included in sorted(glob.glob(full)):
                    if not _read_sshd(Path(included), out, depth + 1):
                        return False
            continue
        out.setdefault(key, (value.split()[0] if value else "", str(path), n))
    return True


def run_checks(
    checks: list[dict[str, Any]], sshd_config: str, tracked_paths: list[str]
) -> tuple[list[Failure], list[str], set[str]]:
    """The failures, the check errors, and the checks that could be judged."""
    failures: list[Failure] = []
    errors: list[str] = []
    judged: set[str] = set()
    sshd: dict[str, tuple[str, str, int]] | None = None
    sshd_error = None
    files = list(_files(tracked_paths, errors))
    for c in checks:
        if c["type"] == "sshd_option":
            if sshd is None and sshd_error is None:
                try:
                    sshd = sshd_settings(sshd_config)
                except OSError as e:
                    sshd_error = str(e)
                    errors.append(f"hardening {c['name']}: {e}")
            if sshd is None:
                continue
            judged.add(c["name"])
            value, file, line = sshd.get(c["option"].lower(),
                                         (str(c.get("default", "")), sshd_config, 0))  # fmt: skip
            if value.lower() in [str(b).lower() for b in c.get("bad", [])]:
                where = f"{file}:{line}" if line else f"{file} (not set: sshd's default)"
                failures.append(Failure(c["name"], file, c["severity"],
                    f"sshd {c['option']} {value} ({where})",
                    {"option": c["option"], "value": value, "file": file, "line": line or None}))  # fmt: skip
        else:
            judged.add(c["name"])
            for path, st in files:
                mode = stat.S_IMODE(st.st_mode)
                if c["type"] == "world_writable" and mode & stat.S_IWOTH:
                    failures.append(Failure(c["name"], path, c["severity"],
                        f"{path} is writable by everyone (mode {mode:04o})",
                        {"file": path, "mode": f"{mode:04o}", "line": None}))  # fmt: skip
                elif (c["type"] == "private_key_readable" and mode & (stat.S_IRGRP | stat.S_IROTH)
                      and _is_private_key(path)):  # fmt: skip
                    failures.append(Failure(c["name"], path, c["severity"],
                        f"private key {path} is readable by others (mode {mode:04o})",
                        {"file": path, "mode": f"{mode:04o}", "line": 1}))  # fmt: skip
    return failures, errors, judged


def _files(paths: list[str], errors: list[str]):
    for root in paths:
        for match in sorted(glob.glob(root)) or [root]:
            p = Path(match)
            try:
                items = [p] if not p.is_dir() else sorted(x for x in p.rglob("*") if x.is_file())
                for f in items:
                    if not f.is_symlink():
                        yield str(f), f.stat()
            except OSError as e:
                errors.append(f"hardening: {p}: {e.strerror or e}")


def _is_private_key(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"-----BEGIN" in head and b"PRIVATE KEY-----" in head
