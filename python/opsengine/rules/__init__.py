"""Rules: the rule-file format, its validation, and the compiled matcher."""

from opsengine.rules.files import default_pack_paths, load_rule_files, parse_rule_text
from opsengine.rules.model import CATEGORIES, SEVERITIES, Rule, RuleError, Threshold
from opsengine.rules.ruleset import RuleSet, as_lines

__all__ = [
    "CATEGORIES",
    "SEVERITIES",
    "Rule",
    "RuleError",
    "RuleSet",
    "Threshold",
    "as_lines",
    "default_pack_paths",
    "load_rule_files",
    "parse_rule_text",
]
