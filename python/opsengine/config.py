"""Settings: defaults that just work, an ``opsengine.toml`` file, and ``OPSENGINE_*`` variables.

Precedence: defaults < the TOML file < environment variables
(``OPSENGINE_<SECTION>_<KEY>``, e.g. ``OPSENGINE_RETENTION_LOGS_DAYS=7``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the file or variable and the key."""


@dataclass
class RetentionSettings:
    """Days each history table keeps (0 = forever)."""

    logs_days: int = 30
    events_days: int = 90
    metrics_days: int = 15
    metrics_1m_days: int = 400


@dataclass
class StoreSettings:
    # DuckDB's buffer pool; beyond it DuckDB spills to disk. Bounds the engine's memory.
    memory_limit: str = "512MB"


@dataclass
class IngestSettings:
    batch_bytes: int = 4 << 20
    threads: int = 0  # 0 = all cores


@dataclass
class Settings:
    db: str = "opsengine.duckdb"
    rules: list[str] = field(default_factory=list)  # empty = the default pack
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)


def _coerce(value: Any, current: Any, where: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if isinstance(current, list):
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        if isinstance(value, list):
            return [str(v) for v in value]
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return str(value)


def _apply(target: Any, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(target)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting '{key}' (known: {', '.join(sorted(known))})"
            )
        current = getattr(target, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table [{key}]")
            _apply(current, value, f"{where}.{key}")
        else:
            setattr(target, key, _coerce(value, current, f"{where}.{key}"))


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from defaults, then ``path`` (or ./opsengine.toml if present), then the environment."""
    settings = Settings()
    env = os.environ if env is None else env
    file = Path(path) if path else Path(env.get("OPSENGINE_CONFIG", "opsengine.toml"))
    if path or file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{file}: cannot read: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{file}: {e}") from None
        _apply(settings, data, str(file))
    for name, value in env.items():
        if not name.startswith("OPSENGINE_") or name in ("OPSENGINE_CONFIG", "OPSENGINE_LOGHUB"):
            continue
        parts = name[len("OPSENGINE_") :].lower()
        target: Any = settings
        for f in fields(settings):
            sub = getattr(settings, f.name)
            if is_dataclass(sub) and parts.startswith(f.name + "_"):
                target, parts = sub, parts[len(f.name) + 1 :]
                break
        if parts not in {f.name for f in fields(target)}:
            continue  # variables of other tools or later versions
        setattr(target, parts, _coerce(value, getattr(target, parts), name))
    return settings
