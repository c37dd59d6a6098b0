"""Escalation policies: who is told at each level, how long before the next, how often over.

A policy has levels ``[{targets: [...], delay: "15m"}, ...]``: level 0's targets are told
when an incident opens; if nobody acknowledges within level 0's ``delay`` the incident
escalates to level 1, and so on; after the last level the whole policy runs ``repeat``
more times. A target is ``channel:NAME`` (a notification channel), ``user:NAME`` (every
channel that user owns) or ``oncall:SCHEDULE`` (the user on call at that moment).

The policy that applies is the first (by name) whose matchers all match the incident's
labels; a policy without matchers matches everything, so name it to sort last
(e.g. ``zz-default``) or give the specific ones matchers.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from opsengine.durations import parse_duration
from opsengine.notify.matchers import MatcherError, all_match, parse_matchers, to_stored
from opsengine.store import Store
from opsengine.store.rows import bounded_text, query_dicts, utc

TARGET_KINDS = ("channel", "user", "oncall")
MAX_LEVELS = 20
MAX_TARGETS = 50
MAX_REPEAT = 10


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the policy and field."""


def parse_levels(name: str, levels: Any) -> list[dict[str, Any]]:
    """Validated levels with delays in seconds; errors name ``levels[i].field``."""
    if not isinstance(levels, list) or not 1 <= len(levels) <= MAX_LEVELS:
        raise PolicyError(f"policy {name}: levels must be a list of 1..{MAX_LEVELS} levels")
    out = []
    for i, level in enumerate(levels):
        where = f"policy {name}: levels[{i}]"
        if not isinstance(level, dict):
            raise PolicyError(f"{where}: expected a mapping with targets and delay")
        unknown = set(level) - {"targets", "delay"}
        if unknown:
            raise PolicyError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        targets = level.get("targets")
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
            raise PolicyError(f"{where}.targets: list 1..{MAX_TARGETS} targets")
        for j, t in enumerate(targets):
            kind, _, value = t.partition(":") if isinstance(t, str) else ("", "", "")
            if kind not in TARGET_KINDS or not value:
                raise PolicyError(
                    f"{where}.targets[{j}]: expected channel:NAME, user:NAME or oncall:SCHEDULE, "
                    f"got {t!r}"
                )
        try:
            delay = parse_duration(level.get("delay", "15m"))
        except ValueError as e:
            raise PolicyError(f"{where}.delay: {e}") from None
        if delay <= 0:
            raise PolicyError(f"{where}.delay: must be positive")
        out.append({"targets": list(targets), "delay": delay})
    return out


class EscalationPolicies:
    def __init__(self, store: Store) -> None:
        self.store = store

    def set_policy(
        self,
        name: str,
        levels: list[dict[str, Any]],
        *,
        repeat: int = 0,
        matchers: list[str] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        name = bounded_text(name, "name", 128, error=PolicyError)
        parsed_levels = parse_levels(name, levels)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
            raise PolicyError(f"policy {name}: repeat must be 0..{MAX_REPEAT}")
        try:
            parsed = parse_matchers(matchers or [])
        except MatcherError as e:
            raise PolicyError(f"policy {name}: matchers: {e}") from None
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO escalation_policies VALUES (?, ?, ?, ?, ?)",
                [name, json.dumps(to_stored(parsed)), json.dumps(parsed_levels), repeat, utc(at)],
            )
        return self.get(name)

    def get(self, name: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM escalation_policies WHERE name = ?", [name])
        if not rows:
            raise PolicyError(f"policy {name!r}: no such escalation policy")
        return rows[0]

    def list(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM escalation_policies ORDER BY name")

    def delete(self, name: str) -> None:
        self.get(name)
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM escalation_policies WHERE name = ?", [name])

    def policy_for(self, labels: dict[str, str]) -> dict[str, Any] | None:
        for policy in self.list():
            if all_match(parse_matchers(policy["matchers"]), labels):
                return policy
        return None

    def _rows(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        rows = query_dicts(self.store, sql, params)
        for r in rows:
            r["matchers"] = [f"{n}{op}{v}" for n, op, v in json.loads(r["matchers"])]
            r["levels"] = json.loads(r["levels"])
        return rows
