"""Metric rules (``kind: metric`` in the rule files) evaluated by the core, as alert changes.

:class:`MetricRuleSet` compiles the rules' expressions into one core evaluator
(``opsengine._core.MetricEvaluator``, see ``core/src/metrics``), feeds it Arrow batches of
samples and turns the state changes it reports into :data:`opsengine.alerts.ALERT_CHANGES`
tables: the rule's labels and annotations are added, with Prometheus-style templates
(``{{ $labels.host }}``, ``{{ $value }}``, ``{{ $value | humanize }}``) filled in, and the
rule's ``summary`` becomes the ``summary`` annotation.

Evaluation runs at fixed steps of event time (``step``, default 1 minute) driven by the
samples' own timestamps: a step is evaluated once a sample after it has arrived, so a
replayed file raises the alerts live ingestion raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from opsengine import _core
from opsengine.alerts import ALERT_CHANGES, fingerprint
from opsengine.rules.files import default_pack_paths, load_rule_files
from opsengine.rules.model import Rule, RuleError, rule_from_dict

#: Default evaluation step and instant-selector lookback, in seconds (Prometheus' defaults).
DEFAULT_STEP = 60.0
DEFAULT_LOOKBACK = 300.0

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_REF = re.compile(
    r"^\s*(?:\$labels\.([A-Za-z_]\w*)|\.Labels\.([A-Za-z_]\w*)|(\$value|\.Value))\s*$"
)
_PIPE = re.compile(
    r'^\s*(humanize|humanize1024|humanizePercentage|humanizeDuration|printf\s+"([^"]*)")\s*$'
)


def _humanize(v: float, base: int) -> str:
    if not math.isfinite(v) or v == 0:
        return _plain(v)
    units = (
        ["", "k", "M", "G", "T", "P", "E"]
        if base == 1000
        else ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    )
    i = 0
    while abs(v) >= base and i < len(units) - 1:
        v /= base
        i += 1
    return f"{v:.4g}{units[i]}"


def _duration(v: float) -> str:
    if not math.isfinite(v):
        return _plain(v)
    sign, v = ("-" if v < 0 else ""), abs(v)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if v >= size:
            parts.append(f"{int(v // size)}{unit}")
            v %= size
    parts.append(f"{v:.4g}s" if v or not parts else "")
    return sign + "".join(parts)


def _plain(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _compile_template(text: str, where: str, rule: Rule):
    """Check a template once; returns a function (labels, value) -> text."""
    parts: list[Any] = []
    pos = 0
    for m in _TEMPLATE.finditer(text):
        parts.append(text[pos : m.start()])
        pos = m.end()
        ref, _, pipe = m.group(1).partition("|")
        r = _REF.match(ref)
        p = _PIPE.match(pipe) if pipe else None
        if r is None or (pipe and p is None):
            raise RuleError(
                f"{where}: unsupported template '{m.group(0)}' (use {{{{ $labels.NAME }}}}, "
                "{{ $value }}, optionally | humanize, humanize1024, humanizePercentage, "
                'humanizeDuration or printf "%.1f")',
                file=rule.file,
                line=rule.key_lines.get(where.split(".")[0], rule.line),
                rule=rule.name,
            )
        label = r.group(1) or r.group(2)
        fmt = p.group(1) if p else None
        printf = p.group(2) if p else None
        if printf is not None:
            try:
                printf % 1.0
            except (TypeError, ValueError):
                raise RuleError(
                    f"{where}: printf format {printf!r} does not take one number",
                    file=rule.file, line=rule.line, rule=rule.name,
                ) from None  # fmt: skip
        parts.append((label, fmt, printf))
    parts.append(text[pos:])
    if len(parts) == 1:
        return lambda labels, value: text

    def render(labels: dict[str, str], value: float) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            label, fmt, printf = part
            if label is not None:
                out.append(labels.get(label, ""))
            elif printf is not None:
                out.append(printf % value)
            elif fmt == "humanize":
                out.append(_humanize(value, 1000))
            elif fmt == "humanize1024":
                out.append(_humanize(value, 1024))
            elif fmt == "humanizePercentage":
                out.append(f"{value * 100:.4g}%")
            elif fmt == "humanizeDuration":
                out.append(_duration(value))
            else:
                out.append(_plain(value))
        return "".join(out)

    return render


class _Templates:
    """The labels and annotations of one rule, compiled."""

    def __init__(self, rule: Rule) -> None:
        self.labels = {k: _compile_template(v, f"labels.{k}", rule) for k, v in rule.labels.items()}
        notes = {"summary": rule.summary}
        if rule.description:
            notes["description"] = rule.description
        notes.update(rule.annotations)
        self.annotations = {
            k: _compile_template(v, "summary" if k == "summary" else f"annotations.{k}", rule)
            for k, v in notes.items()
        }


def _us(ts: datetime | float | int) -> int:
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return round(float(ts) * 1_000_000)


class MetricRuleSet:
    """The ``kind: metric`` rules of a rule list, evaluated over batches of samples.

    Log rules in the list are ignored, so the engine can hand over its whole rule set.
    An expression that does not compile raises :class:`RuleError` naming the rule file,
    the line of ``expr`` and the column in it.
    """

    def __init__(
        self,
        rules: Sequence[Rule] | Iterable[Rule],
        *,
        step: float = DEFAULT_STEP,
        lookback: float = DEFAULT_LOOKBACK,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(r for r in rules if r.kind == "metric")
        self._by_name = {r.name: r for r in self.rules}
        self._templates = {r.name: _Templates(r) for r in self.rules}
        try:
            self._core = _core.MetricEvaluator(
                [
                    {
                        "name": r.name,
                        "expr": r.expr or "",
                        "for_seconds": r.for_,
                        "keep_firing_for_seconds": r.keep_firing_for,
                    }
                    for r in self.rules
                ],
                step_seconds=step,
                lookback_seconds=lookback,
            )
        except ValueError as e:
            index = getattr(e, "rule_index", None)
            if index is None:
                raise RuleError(str(e)) from None
            bad = self.rules[index]
            raise RuleError(
                str(e), file=bad.file, line=bad.key_lines.get("expr", bad.line), rule=bad.name
            ) from None

    @classmethod
    def from_yaml(cls, *paths: str | Path, **kwargs: Any) -> MetricRuleSet:
        return cls(load_rule_files(paths), **kwargs)

    @classmethod
    def from_dicts(cls, rules: Iterable[dict[str, Any]], **kwargs: Any) -> MetricRuleSet:
        return cls(
            [rule_from_dict(d, file="<dicts>", line=i + 1) for i, d in enumerate(rules)], **kwargs
        )

    @classmethod
    def default(cls, **kwargs: Any) -> MetricRuleSet:
        """The metric rules of the default rule pack."""
        return cls(load_rule_files(default_pack_paths()), **kwargs)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"MetricRuleSet({len(self.rules)} rules, step {self.step:g}s)"

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def step(self) -> float:
        return self._core.step_seconds

    @property
    def history_seconds(self) -> float:
        """How far back the rules read: the samples to reload after a restart."""
        return self._core.history_seconds

    @property
    def last_evaluation(self) -> datetime | None:
        us = self._core.last_evaluation_us
        return None if us is None else datetime.fromtimestamp(us / 1e6, UTC)

    def reads_metric(self, name: str) -> bool:
        return self._core.reads_metric(name)

    def evaluate(self, samples: Any) -> pa.Table:
        """Feed samples (an Arrow table/batch/stream with ts, host, name, labels, value; in
        any order) and return the alert changes of every step they complete, as an
        :data:`ALERT_CHANGES` table in event-time order."""
        return self._alert_changes(self._core.evaluate(samples))

    def advance_to(self, ts: datetime | float) -> pa.Table:
        """Evaluate the steps up to ``ts`` with no new samples: time passing while the
        sources are quiet (a host that stopped reporting is noticed only so)."""
        return self._alert_changes(self._core.advance_to(_us(ts)))

    def save_state(self) -> str:
        """Pending and firing alerts and the evaluation clock, as JSON."""
        return self._core.save_state()

    def restore_state(self, state: str) -> None:
        """Restore :meth:`save_state` output; ValueError when it is damaged."""
        self._core.restore_state(state)

    def stats(self) -> dict[str, int]:
        return dict(self._core.stats())

    def rule_errors(self) -> dict[str, str]:
        """The rules whose last evaluation failed, with the reason."""
        return dict(self._core.rule_errors())

    def _alert_changes(self, batch: pa.RecordBatch) -> pa.Table:
        if batch.num_rows == 0:
            return ALERT_CHANGES.empty_table()
        rules = batch.column("rule").to_pylist()
        values = batch.column("value").to_pylist()
        labels_out, notes_out, fps, severity, category = [], [], [], [], []
        for rule_name, raw, value in zip(
            rules, batch.column("labels").to_pylist(), values, strict=True
        ):
            rule = self._by_name[rule_name]
            t = self._templates[rule_name]
            series = dict(raw or [])
            v = math.nan if value is None else value
            labels = dict(series)
            labels.update({k: f(series, v) for k, f in t.labels.items()})
            notes = {k: f(labels, v) for k, f in t.annotations.items()}
            labels_out.append(sorted(labels.items()))
            notes_out.append(sorted(notes.items()))
            fps.append(fingerprint(rule_name, labels))
            severity.append(rule.severity)
            category.append(rule.category)
        n = batch.num_rows
        return pa.Table.from_pydict(
            {
                "ts": batch.column("ts"),
                "rule": batch.column("rule"),
                "fingerprint": pa.array(fps, pa.string()),
                "state": batch.column("state"),
                "labels": pa.array(labels_out, ALERT_CHANGES.field("labels").type),
                "annotations": pa.array(notes_out, ALERT_CHANGES.field("annotations").type),
                "value": batch.column("value"),
                "active_since": batch.column("active_since"),
                "fired_at": batch.column("fired_at"),
                "resolved_at": batch.column("resolved_at"),
                "severity": pa.array(severity, pa.string()),
                "category": pa.array(category, pa.string()),
                "source": pa.array(["metric"] * n, pa.string()),
            },
            schema=ALERT_CHANGES,
        )
