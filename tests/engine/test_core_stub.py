"""The typed stub ``opsengine/_core.pyi`` is the contract of the compiled core: every name it
declares exists in ``opsengine._core`` and every public name there is declared, each class
and function says what it does, and the settings TypedDicts are what the core accepts."""

from __future__ import annotations

import ast
from pathlib import Path

import opsengine
import pyarrow as pa
import pytest
from opsengine import _core

STUB = Path(opsengine.__file__).with_name("_core.pyi")


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _base_names(cls: ast.ClassDef) -> set[str]:
    return {b.id for b in cls.bases if isinstance(b, ast.Name)}


def _typing_only(node: ast.stmt) -> bool:
    """TypedDicts, Protocols and type aliases exist for the type checker only."""
    if isinstance(node, ast.ClassDef):
        return bool(_base_names(node) & {"TypedDict", "Protocol"})
    return isinstance(node, ast.Assign)


def _names(nodes: list[ast.stmt]) -> dict[str, ast.stmt]:
    out: dict[str, ast.stmt] = {}
    for n in nodes:
        if isinstance(n, ast.ClassDef | ast.FunctionDef):
            out[n.name] = n
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            out[n.target.id] = n
        elif isinstance(n, ast.Assign):
            out.update({t.id: n for t in n.targets if isinstance(t, ast.Name)})
    return out


def _public(names: list[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_stub_and_module_declare_the_same_names():
    declared = _names(_stub().body)
    runtime = {n for n, node in declared.items() if not _typing_only(node)}
    typing_only = set(declared) - runtime
    assert runtime == _public(dir(_core)), "stub and module differ"
    assert not typing_only & set(dir(_core)), "a typing-only name shadows a runtime one"
    assert "__getattr__" not in declared


def test_each_class_declares_exactly_its_methods():
    for name, node in _names(_stub().body).items():
        if not isinstance(node, ast.ClassDef) or _typing_only(node):
            continue
        cls = getattr(_core, name)
        members = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        assert _public(list(members)) == _public(dir(cls)), name
        assert ("__len__" in members) == hasattr(cls, "__len__"), name


def test_every_class_and_function_says_what_it_does():
    missing = []
    for node in ast.walk(_stub()):
        documented = not isinstance(node, ast.ClassDef | ast.FunctionDef) or bool(
            ast.get_docstring(node)
        )
        if not documented and not node.name.startswith("__arrow"):
            missing.append(node.name)
    assert not missing


def test_miner_settings_typeddict_lists_what_the_core_takes():
    node = _names(_stub().body)["MinerSettings"]
    assert isinstance(node, ast.ClassDef)
    keys = {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
    defaults = _core.TemplateMiner.default_settings()
    assert set(defaults) == keys
    miner = _core.TemplateMiner({"depth": 5, "variable_keys": ["user"]})
    assert miner.settings() == {**defaults, "depth": 5, "variable_keys": ["user"]}


def test_a_bad_setting_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match="unknown template miner setting 'dpeth'"):
        _core.TemplateMiner({"dpeth": 5})
    with pytest.raises(ValueError, match="template miner setting 'depth'"):
        _core.TemplateMiner({"depth": "deep"})


def test_a_bad_rule_value_names_the_item_the_rule_and_the_key():
    good = {"name": "burst", "count": 3, "within_seconds": 60.0}
    bad = {"name": "flood", "count": "three", "within_seconds": 60.0}
    with pytest.raises(ValueError, match=r"rules\[1\] 'flood': key 'count'") as e:
        _core.LogThresholds([good, bad])
    assert e.value.rule_index == 1
    # A missing key reads as the KeyError's text: the key's name.
    with pytest.raises(ValueError, match=r"rules\[0\] 'disk': 'expr'") as e:
        _core.MetricEvaluator(
            [{"name": "disk", "for_seconds": 0.0, "keep_firing_for_seconds": 0.0}]
        )
    assert e.value.rule_index == 0
    spec = {"name": "oom", "pattern": "Out of memory", "literal": True, "ignore_case": "yes"}
    with pytest.raises(ValueError, match=r"rules\[0\] 'oom': key 'ignore_case'"):
        _core.RuleMatcher([spec])


def test_typed_rules_compile_and_run():
    matcher = _core.RuleMatcher(
        [{"name": "oom", "pattern": "out of memory", "literal": True, "ignore_case": True}]
    )
    assert matcher.count_lines(pa.array(["Out of memory: kill 12", "ok"])) == [1]
    windows = _core.LogThresholds([{"name": "burst", "count": 2, "within_seconds": 60.0}])
    ts = pa.array([1_000_000, 2_000_000], pa.timestamp("us"))
    changes = windows.evaluate(pa.array([0, 0], pa.uint32()), ts, pa.array(["h", "h"]))
    assert changes.column("state").to_pylist() == ["firing"]
