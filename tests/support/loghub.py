"""The real loghub corpus from ../shared/data (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opsengine.bench.corpus import DATASETS

ROOT = Path(__file__).resolve().parents[2]  # the repository root (tests/support/ → root)
LOGHUB = Path(os.environ.get("OPSENGINE_LOGHUB", ROOT.parent / "shared" / "data" / "loghub"))

__all__ = ["DATASETS", "LOGHUB", "ROOT", "loghub_available", "loghub_lines", "needs_loghub"]


def loghub_available() -> bool:
    return all((LOGHUB / d / f"{d}_2k.log").exists() for d in DATASETS)


needs_loghub = pytest.mark.skipif(
    not loghub_available(),
    reason=f"the loghub corpus is not at {LOGHUB} (set OPSENGINE_LOGHUB to its folder)",
)


def loghub_lines(name: str) -> list[str]:
    text = (LOGHUB / name / f"{name}_2k.log").read_bytes().decode("utf-8", errors="replace")
    return text.splitlines()
