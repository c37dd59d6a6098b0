"""opsengine: an operational-support engine with a compiled Rust core.

The embedded API: ``RuleSet`` compiles log rules into one multi-pattern matcher
over Arrow arrays; ``Engine`` wires a DuckDB store, the rules and ingestion.
"""

from typing import Any

from opsengine.rules import Rule, RuleError, RuleSet

__all__ = ["Engine", "Rule", "RuleError", "RuleSet", "TemplateMiner"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The engine pulls in DuckDB; keep `import opsengine` light for rule tooling.
    if name == "Engine":
        from opsengine.engine import Engine

        return Engine
    if name == "TemplateMiner":
        from opsengine.template_miner import TemplateMiner

        return TemplateMiner
    raise AttributeError(f"module 'opsengine' has no attribute {name!r}")
