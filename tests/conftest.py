"""Shared fixtures. Helpers live in ``tests.support`` (the loghub corpus: ``tests.support.loghub``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_rules():
    from opsengine import RuleSet

    return RuleSet.default()
