"""opsengine: an operational-support engine with a compiled Rust core.

The embedded API starts here: ``RuleSet`` compiles log rules into one
multi-pattern matcher over Arrow arrays.
"""

from opsengine.rules import Rule, RuleError, RuleSet

__all__ = ["Rule", "RuleError", "RuleSet"]
__version__ = "0.1.0"
