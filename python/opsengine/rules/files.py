"""Reading rule files: YAML, one list of rules per file, with every rule and
key remembered by its line so errors can point at it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from opsengine.rules.model import Rule, RuleError, rule_from_dict

PACKS_DIR = Path(__file__).parent / "packs"
# A rule file larger than this is refused: rule files are configuration.
MAX_RULE_FILE_BYTES = 8 << 20
# Deepest nesting of lists and maps in a rule file (a rule nests four or five levels);
# the YAML composer recurses per level and would end in RecursionError.
MAX_YAML_DEPTH = 64


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses YAML nested deeper than :data:`MAX_YAML_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def default_pack_paths() -> list[Path]:
    """The files of the default rule pack shipped with opsengine."""
    return sorted((PACKS_DIR / "default").glob("*.yaml"))


def parse_rule_text(text: str, file: str = "<string>") -> list[Rule]:
    """Validate the rules in one YAML document. Raises RuleError at the first fault."""
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise RuleError(
            f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark else None
        ) from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise RuleError(
            "a rule file holds one YAML list of rules ('- name: …')",
            file=file,
            line=root.start_mark.line + 1,
        )
    constructor = yaml.SafeLoader("")
    rules = []
    for item in root.value:
        line = item.start_mark.line + 1
        key_lines: dict[str, int] = {}
        if isinstance(item, yaml.MappingNode):
            for k, _ in item.value:
                if isinstance(k, yaml.ScalarNode):
                    key_lines[str(k.value)] = k.start_mark.line + 1
        try:
            data = constructor.construct_document(item)
        except yaml.YAMLError as e:
            raise RuleError(f"invalid YAML value: {e}", file=file, line=line) from None
        rules.append(rule_from_dict(data, file=file, line=line, key_lines=key_lines))
    return rules


def load_rule_files(paths: Iterable[str | Path]) -> list[Rule]:
    """Load and validate rule files; names must be unique across all of them."""
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for p in paths:
        path = Path(p)
        try:
            size = path.stat().st_size
            if size > MAX_RULE_FILE_BYTES:
                raise RuleError(
                    f"file is {size} bytes; rule files are limited to {MAX_RULE_FILE_BYTES}",
                    file=str(path),
                )
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise RuleError(
                f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path)
            ) from None
        except OSError as e:
            raise RuleError(f"cannot read: {e.strerror or e}", file=str(path)) from None
        for rule in parse_rule_text(text, file=str(path)):
            first = seen.get(rule.name)
            if first is not None:
                raise RuleError(
                    f"duplicate rule name (first defined at {first.file}:{first.line})",
                    file=rule.file,
                    line=rule.line,
                    rule=rule.name,
                )
            seen[rule.name] = rule
            rules.append(rule)
    return rules
