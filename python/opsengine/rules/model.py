"""What a rule is: the validated form of one entry of a rule file.

Validation names the place of every fault (file, line, rule, key), so an
operator can fix a rule file from the message alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opsengine.durations import parse_duration

SEVERITIES = ("critical", "high", "medium", "low", "info")
CATEGORIES = ("availability", "performance", "error", "security", "config")
KINDS = ("log", "metric", "new_template")
LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug", "trace")
LITERAL_PREFIX = "literal:"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
# Longest pattern accepted; a rule file is configuration, not data.
MAX_PATTERN_LEN = 16_384

_COMMON_KEYS = {"name", "kind", "severity", "category", "summary", "labels", "annotations"}
_LOG_KEYS = _COMMON_KEYS | {"pattern", "ignore_case", "fields", "threshold", "description"}
_METRIC_KEYS = _COMMON_KEYS | {"expr", "for", "keep_firing_for", "description"}
_NEW_TEMPLATE_KEYS = _COMMON_KEYS | {"levels", "description"}


def _shown(text: str, width: int = 128) -> str:
    """``text`` for a message: control and format characters (ESC, U+202E) escaped, so an
    error can neither drive a terminal nor reorder what a reader sees; at most ``width``."""
    escaped = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return escaped if len(escaped) <= width else escaped[: width - 1] + "…"


class RuleError(ValueError):
    """A rule that cannot be accepted; ``str()`` is ``file:line: rule 'name': message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.rule = rule
        super().__init__(str(self))

    def __str__(self) -> str:
        place = ""
        if self.file is not None:
            place = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        elif self.line is not None:
            place = f"line {self.line}: "
        who = f"rule '{_shown(self.rule)}': " if self.rule else ""
        return f"{place}{who}{self.message}"


@dataclass(frozen=True)
class Threshold:
    """Alert when ``count`` matching events for one key fall within ``within`` seconds."""

    count: int
    within: float
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    severity: str
    category: str
    summary: str
    pattern: str | None = None
    literal: bool = False
    ignore_case: bool = False
    fields: tuple[str, ...] = ()
    threshold: Threshold | None = None
    expr: str | None = None
    for_: float = 0.0
    keep_firing_for: float = 0.0
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    #: ``kind: new_template``: only lines at these levels count (empty: every line).
    levels: tuple[str, ...] = ()
    #: Line of each key in the rule file, for errors found after validation.
    key_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def groups(self) -> tuple[str, ...]:
        """Named capture groups of the pattern, in order."""
        if self.pattern is None or self.literal:
            return ()
        return tuple(dict.fromkeys(_GROUP.findall(self.pattern)))


def _string_map(value: Any, key: str, fail) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(f"'{key}' must be a mapping of names to strings", key)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not _LABEL_NAME.match(k):
            fail(
                f"'{key}': invalid name {k!r} (letters, digits and _; not starting with a digit)",
                key,
            )
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            fail(f"'{key}.{k}' must be a string", key)
        out[k] = str(v)
    return out


def rule_from_dict(
    data: Any,
    *,
    file: str | None = None,
    line: int | None = None,
    key_lines: dict[str, int] | None = None,
) -> Rule:
    """Validate one rule entry. Raises RuleError naming file, line, rule and key."""
    key_lines = key_lines or {}
    name = data.get("name") if isinstance(data, dict) else None
    rule_name = name if isinstance(name, str) else None

    def fail(message: str, key: str | None = None):
        raise RuleError(message, file=file, line=key_lines.get(key, line), rule=rule_name)

    if not isinstance(data, dict):
        fail(f"a rule must be a mapping, got {type(data).__name__}")
    if not isinstance(name, str) or not name:
        fail("missing 'name'", "name")
    if not _NAME.match(name):
        fail("invalid name: use letters, digits, '_', '.', ':' or '-' (at most 128)", "name")
    kind = data.get("kind", "log")
    if kind not in KINDS:
        fail(f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}", "kind")
    allowed = {"log": _LOG_KEYS, "metric": _METRIC_KEYS, "new_template": _NEW_TEMPLATE_KEYS}[kind]
    unknown = sorted(set(data) - allowed)
    if unknown:
        fail(
            f"unknown key '{unknown[0]}' for a {kind} rule (allowed: {', '.join(sorted(allowed))})",
            unknown[0],
        )
    severity = data.get("severity")
    if severity not in SEVERITIES:
        fail(f"'severity' must be one of {', '.join(SEVERITIES)}, got {severity!r}", "severity")
    category = data.get("category")
    if category not in CATEGORIES:
        fail(f"'category' must be one of {', '.join(CATEGORIES)}, got {category!r}", "category")
    summary = data.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        fail("missing 'summary' (one line saying what happened)", "summary")
    description = data.get("description", "")
    if not isinstance(description, str):
        fail("'description' must be a string", "description")
    labels = _string_map(data.get("labels"), "labels", fail)
    annotations = _string_map(data.get("annotations"), "annotations", fail)
    common = dict(
        name=name,
        kind=kind,
        severity=severity,
        category=category,
        summary=summary.strip(),
        description=description,
        labels=labels,
        annotations=annotations,
        file=file,
        line=line,
        key_lines=dict(key_lines),
    )
    if kind == "metric":
        expr = data.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            fail("a metric rule needs 'expr'", "expr")
        try:
            for_ = parse_duration(data.get("for", 0))
            keep = parse_duration(data.get("keep_firing_for", 0))
        except ValueError as e:
            fail(str(e), "for" if "for" in data else "keep_firing_for")
        return Rule(**common, expr=expr.strip(), for_=for_, keep_firing_for=keep)

    if kind == "new_template":
        levels = data.get("levels", [])
        if isinstance(levels, str):
            levels = [levels]
        if not isinstance(levels, list) or any(lv not in LEVELS for lv in levels):
            fail(f"'levels' must be a list of levels from {', '.join(LEVELS)}", "levels")
        return Rule(**common, levels=tuple(dict.fromkeys(levels)))

    pattern = data.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        fail("a log rule needs 'pattern' (a regex, or literal:TEXT)", "pattern")
    if len(pattern) > MAX_PATTERN_LEN:
        fail(f"'pattern' is {len(pattern)} characters; at most {MAX_PATTERN_LEN}", "pattern")
    literal = pattern.startswith(LITERAL_PREFIX)
    if literal:
        pattern = pattern[len(LITERAL_PREFIX) :]
        if not pattern:
            fail("'literal:' needs the text to look for", "pattern")
    ignore_case = data.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        fail("'ignore_case' must be true or false", "ignore_case")
    rule = Rule(**common, pattern=pattern, literal=literal, ignore_case=ignore_case)
    groups = rule.groups
    fields = data.get("fields")
    if fields is None:
        fields = groups
    elif not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        fail("'fields' must be a list of capture-group names", "fields")
    for f in fields:
        if f not in groups:
            fail(
                f"'fields' names '{f}', which is not a named group (?P<{f}>…) of the pattern",
                "fields",
            )
    threshold = data.get("threshold")
    if threshold is not None:
        if not isinstance(threshold, dict):
            fail("'threshold' must be a mapping {count: N, within: 5m, by: [field]}", "threshold")
        extra = sorted(set(threshold) - {"count", "within", "by"})
        if extra:
            fail(
                f"'threshold' has unknown key '{extra[0]}' (allowed: by, count, within)",
                "threshold",
            )
        count = threshold.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            fail("'threshold.count' must be a whole number of at least 1", "threshold")
        try:
            within = parse_duration(threshold.get("within", "0s"))
        except ValueError as e:
            fail(f"'threshold.within': {e}", "threshold")
        if within <= 0:
            fail("'threshold.within' must be a positive duration such as 1m", "threshold")
        by = threshold.get("by", [])
        if isinstance(by, str):
            by = [by]
        if not isinstance(by, list) or not all(isinstance(b, str) for b in by):
            fail("'threshold.by' must be a list of field names", "threshold")
        for b in by:
            if b not in groups:
                fail(
                    f"'threshold.by' names '{b}', which is not a named group of the pattern",
                    "threshold",
                )
        threshold = Threshold(count=count, within=within, by=tuple(by))
    return Rule(
        **common,
        pattern=pattern,
        literal=literal,
        ignore_case=ignore_case,
        fields=tuple(fields),
        threshold=threshold,
    )
