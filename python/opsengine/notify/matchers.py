"""Label matchers as Alertmanager writes them: ``name=value``, ``!=``, ``=~regex``, ``!~regex``.

Silences, maintenance windows and escalation policies select incidents with a list of
matchers that must all hold. Regexes are anchored at both ends, as in Alertmanager, so
``host=~web.*`` does not match ``db-web1``. A missing label is the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

OPERATORS = ("=~", "!~", "!=", "=")  # longest first, so "!=" is not read as "="
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_MATCHERS = 32
MAX_VALUE = 1024


class MatcherError(ValueError):
    """A matcher that cannot be used; the message quotes it."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise MatcherError(f"matcher {self}: invalid label name {self.name!r}")
        if self.op not in OPERATORS:
            raise MatcherError(f"matcher {self}: operator must be one of {', '.join(OPERATORS)}")
        if len(self.value) > MAX_VALUE:
            raise MatcherError(f"matcher {self.name}{self.op}…: value longer than {MAX_VALUE}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as e:
                raise MatcherError(f"matcher {self}: invalid regex: {e}") from None

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "") or ""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def parse_matcher(text: str) -> Matcher:
    """``host=web1``, ``service!=db``, ``host=~web.*``, ``env!~dev|test`` (quotes optional)."""
    text = text.strip()
    for i, ch in enumerate(text):
        if ch in "=!":
            for op in OPERATORS:
                if text.startswith(op, i):
                    value = text[i + len(op) :].strip()
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                        value = value[1:-1]
                    return Matcher(text[:i].strip(), op, value)
            break
    raise MatcherError(f"matcher {text!r}: expected name=value, name!=value, name=~re or name!~re")


def parse_matchers(items: Iterable[str | Matcher | Iterable[str]]) -> tuple[Matcher, ...]:
    """Matchers from strings, Matcher objects or ``[name, op, value]`` triples (stored form)."""
    out: list[Matcher] = []
    for item in items:
        if isinstance(item, Matcher):
            out.append(item)
        elif isinstance(item, str):
            out.append(parse_matcher(item))
        else:
            parts = list(item)
            if len(parts) != 3 or not all(isinstance(p, str) for p in parts):
                raise MatcherError(f"matcher {parts!r}: expected [name, op, value]")
            out.append(Matcher(*parts))
        if len(out) > MAX_MATCHERS:
            raise MatcherError(f"at most {MAX_MATCHERS} matchers")
    return tuple(out)


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def to_stored(matchers: Iterable[Matcher]) -> list[list[str]]:
    return [[m.name, m.op, m.value] for m in matchers]
