"""Durations as operators write them: ``30s``, ``5m``, ``1h30m``, ``7d``, ``250ms``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError naming the text."""
    if isinstance(text, bool):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"invalid duration {text!r}: negative")
        return float(text)
    s = str(text).strip()
    if not s:
        raise ValueError("invalid duration '': expected e.g. 30s, 5m, 1h")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {s!r}: expected e.g. 30s, 5m, 1h30m, 7d")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` (``90`` → ``1m30s``)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)
