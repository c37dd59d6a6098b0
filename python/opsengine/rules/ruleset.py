"""The embedded matcher API: a validated rule set compiled into the core.

``RuleSet.match`` hands whole Arrow arrays to the compiled matcher (one pass
per line for the whole set, GIL released, all cores by default) and returns
a ``pyarrow.RecordBatch``; nothing here loops over lines in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from opsengine import _core
from opsengine.rules.files import default_pack_paths, load_rule_files
from opsengine.rules.model import Rule, RuleError, rule_from_dict


def as_lines(lines: Any) -> Any:
    """Accept what users have at hand as an Arrow-exportable column of lines.

    pyarrow arrays and chunked arrays, polars Series and anything else with
    the Arrow PyCapsule interface pass through untouched (zero-copy); a list
    of str/bytes becomes an Arrow array; a one-column table (pyarrow, polars
    DataFrame, DuckDB relation) gives its column.
    """
    if isinstance(lines, list | tuple):
        if lines and all(isinstance(x, bytes | bytearray | type(None)) for x in lines):
            return pa.array(lines, type=pa.binary())
        return pa.array(lines, type=pa.string())
    if isinstance(lines, pa.Table | pa.RecordBatch):
        if lines.num_columns != 1:
            raise TypeError(f"lines: expected one column, got a table of {lines.num_columns}")
        return lines.column(0)
    if hasattr(lines, "__arrow_c_array__"):
        return lines
    if hasattr(lines, "__arrow_c_stream__"):
        # A stream of structs is a table (polars DataFrame, DuckDB relation).
        table = None
        try:
            schema = pa.schema(lines) if hasattr(lines, "__arrow_c_schema__") else None
        except (TypeError, ValueError, pa.ArrowInvalid):
            schema = None
        if schema is not None or type(lines).__name__ in ("DataFrame", "DuckDBPyRelation"):
            table = pa.table(lines)
        if table is not None:
            return as_lines(table)
        return lines
    if hasattr(lines, "arrow") and callable(lines.arrow):  # older DuckDB relations
        return as_lines(lines.arrow())
    raise TypeError(
        "lines: expected a pyarrow/polars string array or series, a one-column table, "
        f"or a list of str; got {type(lines).__name__}"
    )


class RuleSet:
    """Log rules compiled into one multi-pattern matcher."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.log_rules: tuple[Rule, ...] = tuple(r for r in self.rules if r.kind == "log")
        self.new_template_rules: tuple[Rule, ...] = tuple(
            r for r in self.rules if r.kind == "new_template"
        )
        seen: dict[str, Rule] = {}
        for r in self.rules:
            if r.name in seen:
                raise RuleError("duplicate rule name", file=r.file, line=r.line, rule=r.name)
            seen[r.name] = r
        try:
            self._matcher = _core.RuleMatcher(
                [
                    {
                        "name": r.name,
                        "pattern": r.pattern,
                        "literal": r.literal,
                        "ignore_case": r.ignore_case,
                    }
                    for r in self.log_rules
                ]
            )
        except ValueError as e:
            index = getattr(e, "rule_index", None)
            if index is None:
                raise RuleError(str(e)) from None
            bad = self.log_rules[index]
            message = str(e).split(": ", 1)[1] if str(e).startswith("rule '") else str(e)
            line = bad.key_lines.get("pattern", bad.line)
            raise RuleError(message, file=bad.file, line=line, rule=bad.name) from None
        self._by_name = {r.name: r for r in self.rules}

    @classmethod
    def from_yaml(cls, *paths: str | Path | Iterable[str | Path]) -> RuleSet:
        """Load rule files (each a YAML list of rules)."""
        flat: list[str | Path] = []
        for p in paths:
            if isinstance(p, str | Path):
                flat.append(p)
            else:
                flat.extend(p)
        return cls(load_rule_files(flat))

    @classmethod
    def from_dicts(cls, rules: Iterable[dict[str, Any]]) -> RuleSet:
        """Build from rule mappings as they would appear in a rule file."""
        out = []
        for i, data in enumerate(rules):
            out.append(rule_from_dict(data, file="<dicts>", line=i + 1))
        return cls(out)

    @classmethod
    def default(cls) -> RuleSet:
        """The default rule pack shipped with opsengine."""
        return cls(load_rule_files(default_pack_paths()))

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def __getitem__(self, name: str) -> Rule:
        return self._by_name[name]

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules)"

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def capture_columns(self) -> list[str]:
        """Names of the capture columns that ``match`` returns after row and rule."""
        return list(self._matcher.capture_columns)

    def plan(self) -> dict[str, Any]:
        """How the core compiled the log rules (prefiltered vs checked on every line)."""
        return dict(self._matcher.plan())

    def match(self, lines: Any, *, threads: int | None = None) -> pa.RecordBatch:
        """One row per (line, matching rule): ``row``, ``rule`` and the named captures.

        Ordered by row, then rule order. Nulls are skipped. ``threads``: None or
        0 for all cores.
        """
        return self._matcher.match_lines(as_lines(lines), threads=threads or 0)

    def count(self, lines: Any, *, threads: int | None = None) -> dict[str, int]:
        """Matching lines per log rule (every log rule present, zero included)."""
        counts = self._matcher.count_lines(as_lines(lines), threads=threads or 0)
        return dict(zip(self._matcher.names, counts, strict=True))
