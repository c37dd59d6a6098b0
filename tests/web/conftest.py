"""Fixtures for the dashboard tests: a seeded store (tests/support/seeded.py) served by the
real app, through Litestar's TestClient or over HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.seeded import seed


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("web") / "seeded.duckdb"
    settings = seed(path)
    return path, settings
