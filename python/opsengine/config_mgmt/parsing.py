"""Configuration files as flat dotted keys, so that a diff is per key as well as per line.

``flatten(path, text)`` detects the format from the file name (then the content) and
returns ``ParsedConfig(format, keys, error)``: ``keys`` maps ``db.host`` → ``"10.0.0.5"``
(values as JSON text, so ``5432`` and ``"5432"`` stay apart), or is ``None`` with
``error`` naming the line when the file does not parse; the file is then kept as text.

Formats: JSON, YAML, TOML, INI (``[section] key = value``), ``.env`` (``export`` allowed,
quotes stripped), ``key=value`` and sshd-style ``Key value`` (a repeated key becomes
``Key[0]``, ``Key[1]``; sshd's ``Match`` blocks nest under ``Match <criteria>``).
List items are ``key[0]``; an empty mapping or list keeps its key with ``{}`` / ``[]``.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

FORMATS = ("json", "yaml", "toml", "ini", "env", "keyvalue", "sshd", "text")


@dataclass(frozen=True)
class ParsedConfig:
    format: str
    keys: dict[str, str] | None  # None when the text did not parse as ``format``
    error: str | None = None


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)


def flatten_value(
    value: Any, prefix: str = "", out: dict[str, str] | None = None
) -> dict[str, str]:
    """Nested mappings and lists as ``{dotted.key: json value}``."""
    out = {} if out is None else out
    if isinstance(value, dict) and value:
        for k, v in value.items():
            flatten_value(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            flatten_value(v, f"{prefix}[{i}]", out)
    else:
        out[prefix or "."] = _value(value)
    return out


def detect_format(path: str, text: str) -> str:
    p = PurePath(path)
    name, suffix = p.name.lower(), p.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".toml":
        return "toml"
    if suffix in (".ini", ".cfg", ".conf") and re.search(r"^\s*\[[^\]]+\]\s*$", text, re.M):
        return "ini"
    if name == ".env" or name.startswith(".env.") or suffix == ".env":
        return "env"
    if name in ("sshd_config", "ssh_config") or name.endswith("sshd_config"):
        return "sshd"
    stripped = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not stripped:
        return "keyvalue"
    if stripped[0][0] in "{[" and suffix not in (".conf", ".cfg"):
        return "json"
    if all("=" in ln for ln in stripped):
        return "keyvalue"
    if all(re.match(r"^[A-Za-z][\w.-]*\s+\S", ln) for ln in stripped):
        return "sshd"
    return "text"


def flatten(path: str, text: str, fmt: str | None = None) -> ParsedConfig:
    """Parse ``text`` (the file at ``path``) into flat keys; errors name the file and line."""
    fmt = fmt or detect_format(path, text)
    try:
        if fmt == "json":
            return ParsedConfig(fmt, flatten_value(json.loads(text)))
        if fmt == "yaml":
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            data: Any = docs[0] if len(docs) == 1 else docs if docs else {}
            return ParsedConfig(fmt, flatten_value(data) if data != {} else {})
        if fmt == "toml":
            return ParsedConfig(fmt, flatten_value(tomllib.loads(text)))
        if fmt == "ini":
            return ParsedConfig(fmt, _ini(text))
        if fmt in ("env", "keyvalue"):
            return ParsedConfig(fmt, _pairs(path, text, env=fmt == "env"))
        if fmt == "sshd":
            return ParsedConfig(fmt, _sshd(path, text))
        return ParsedConfig("text", None, f"{path}: not a structured format; kept as text")
    except json.JSONDecodeError as e:
        return ParsedConfig(fmt, None, f"{path}:{e.lineno}: invalid JSON: {e.msg}")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        return ParsedConfig(fmt, None, f"{path}{line}: invalid YAML: {problem}")
    except tomllib.TOMLDecodeError as e:
        return ParsedConfig(fmt, None, f"{path}: invalid TOML: {e}")
    except configparser.Error as e:
        first = str(e).splitlines()[0]
        return ParsedConfig(fmt, None, f"{path}: invalid INI: {first}")
    except ValueError as e:
        return ParsedConfig(fmt, None, str(e))


def _ini(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys keep their case
    parser.read_string(text)
    out: dict[str, str] = {}
    for key, value in parser.defaults().items():
        out[f"DEFAULT.{key}"] = _value(value)
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            if key in parser.defaults() and parser.defaults()[key] == value:
                continue
            out[f"{section}.{key}"] = _value(value)
    return out


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def _content_lines(text: str):
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            yield n, stripped


def _pairs(path: str, text: str, *, env: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in _content_lines(text):
        if env and line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{path}:{n}: expected KEY=VALUE")  # never the line: a secret
        out[key] = _value(_unquote(value) if env else value.strip())
    return out


def _sshd(path: str, text: str) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    block = ""
    for n, line in _content_lines(text):
        parts = re.split(r"\s+|\s*=\s*", line, maxsplit=1)
        if len(parts) != 2 or not parts[1]:
            raise ValueError(f"{path}:{n}: expected 'Keyword value'")
        key, value = parts
        if key.lower() == "match":
            block = f"Match {value}"
            continue
        name = f"{block}.{key}" if block else key
        values.setdefault(name, []).append(_unquote(value))
    out: dict[str, str] = {}
    for name, vs in values.items():
        if len(vs) == 1:
            out[name] = _value(vs[0])
        else:
            for i, v in enumerate(vs):
                out[f"{name}[{i}]"] = _value(v)
    return out


def key_changes(old: dict[str, str] | None, new: dict[str, str] | None) -> list[dict[str, Any]]:
    """Per-key changes from ``old`` to ``new``: ``{key, change: added|removed|changed, old, new}``."""
    old, new = old or {}, new or {}
    out = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        out.append({"key": key, "change": change, "old": a, "new": b})
    return out


# -- secrets --------------------------------------------------------------------------
_SECRET_NAME = r"[\w.-]*?(?:passw(?:or)?d|secret|token|api[_-]?key|private[_-]?key|credential|auth[_-]?key)[\w.-]*"
_SECRET_KEY = re.compile(rf"(?:^|[.:\]]){_SECRET_NAME}$", re.I)
_SECRET_LINE = re.compile(
    rf"^(?P<head>\s*(?:export\s+)?[\"']?{_SECRET_NAME}[\"']?(?:\s*[:=]\s*|\s+))(?P<value>\S.*?)\s*$",
    re.I,
)


class Redactor:
    """Replaces the values of secret-looking keys (password, secret, token, api_key, …) by
    ``<redacted:…>`` with a salted digest, so a changed secret shows as changed while its
    value is never stored as text, shown in a diff or returned by the API."""

    def __init__(self, salt: bytes) -> None:
        self.salt = salt

    def token(self, value: str) -> str:
        import hashlib

        return f"<redacted:{hashlib.sha256(self.salt + value.encode()).hexdigest()[:12]}>"

    def text(self, text: str) -> str:
        out = []
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            m = _SECRET_LINE.match(body)
            if m and not body.lstrip().startswith(("#", ";")):
                line = m["head"] + self.token(m["value"]) + line[len(body) :]
            out.append(line)
        return "".join(out)

    def keys(self, keys: dict[str, str] | None) -> dict[str, str] | None:
        if keys is None:
            return None
        return {
            k: _value(self.token(v)) if _SECRET_KEY.search(k) and v not in ("null", '""') else v
            for k, v in keys.items()
        }
