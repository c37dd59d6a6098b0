"""What a tracked configuration item is, and the errors of the configuration domain."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
_NAME = re.compile(r"^[A-Za-z0-9][\w.@+-]{0,127}$")
_ENV = re.compile(r"^[A-Za-z0-9][\w.-]{0,63}$")

#: Rules of the alerts this domain raises (category ``config``).
DRIFT_RULE = "config_drift"
UNAPPROVED_RULE = "config_unapproved_change"
POLICY_RULE = "version_policy_violation"
FILE_SYSTEM = "file system"


class ConfigMgmtError(ValueError):
    """Bad input for configuration management; the message names the field or item."""


class ItemNotFound(ConfigMgmtError, LookupError):
    """No tracked item (or version) by that name."""


@dataclass
class ConfigItem:
    name: str
    env: str
    paths: list[str]
    vary: list[str] = field(default_factory=list)
    host: str | None = None
    severity: str = "medium"
    id: int | None = None
    origin: str = "api"
    created_by: str = "api"
    created_at: datetime | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any], where: str) -> ConfigItem:
        """An item from a ``[[config.item]]`` table or a request body; errors name ``where``."""
        known = {"name", "paths", "path", "env", "vary", "host", "severity"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigMgmtError(
                f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        paths = spec.get("paths", spec.get("path"))
        if isinstance(paths, str):
            paths = [paths]
        item = cls(
            name=spec.get("name"),  # type: ignore[arg-type]
            env=spec.get("env", "default"),
            paths=paths,  # type: ignore[arg-type]
            vary=list(spec.get("vary") or []),
            host=spec.get("host"),
            severity=spec.get("severity", "medium"),
        )
        item.validate(where)
        return item

    def validate(self, where: str = "") -> None:
        """Raise :class:`ConfigMgmtError` naming the field (``where.field`` when given)."""
        where = f"{where}." if where else ""
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigMgmtError(
                f"{where}name: expected a name of letters, digits and ._@+- (got {self.name!r})"
            )
        if not isinstance(self.env, str) or not _ENV.match(self.env):
            raise ConfigMgmtError(
                f"{where}env: expected a label of letters, digits and ._- (got {self.env!r})"
            )
        if (
            not isinstance(self.paths, list)
            or not self.paths
            or not all(isinstance(p, str) and p.strip() for p in self.paths)
        ):
            raise ConfigMgmtError(f"{where}paths: expected one or more paths or globs")
        relative = [p for p in self.paths if not p.startswith("/")]
        if relative:
            raise ConfigMgmtError(f"{where}paths: {relative[0]!r} is not an absolute path")
        if not all(isinstance(k, str) and k.strip() for k in self.vary):
            raise ConfigMgmtError(f"{where}vary: expected a list of keys")
        if self.host is not None and (not isinstance(self.host, str) or not self.host.strip()):
            raise ConfigMgmtError(f"{where}host: expected a host name")
        if self.severity not in SEVERITIES:
            raise ConfigMgmtError(
                f"{where}severity: expected one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ConfigItem:
        return cls(
            id=row["id"],
            name=row["name"],
            env=row["env"],
            host=row["host"],
            paths=json.loads(row["paths"]),
            vary=json.loads(row["vary"]),
            severity=row["severity"],
            origin=row["origin"],
            created_by=row["created_by"],
            created_at=row["created_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "env": self.env,
            "host": self.host,
            "paths": self.paths,
            "vary": self.vary,
            "severity": self.severity,
            "origin": self.origin,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    def varies(self, key: str) -> bool:
        """Whether ``key`` is declared as expected to differ across environments.

        A declared key covers itself and everything below it (``db`` covers ``db.host``);
        in an item of several files the key may carry its file's ``name:`` prefix.
        """
        bare = key.split(":", 1)[1] if ":" in key else key
        for v in self.vary:
            for k in (key, bare):
                if k == v or k.startswith((v + ".", v + "[")):
                    return True
        return False
