"""The benchmark corpus: the 16 loghub logs, concatenated and replicated to a target size."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

DATASETS = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
]


def find_loghub(explicit: str | os.PathLike | None = None) -> Path:
    """Locate ``shared/data/loghub``: the argument, $OPSENGINE_LOGHUB, or beside the checkout."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("OPSENGINE_LOGHUB"):
        candidates.append(Path(os.environ["OPSENGINE_LOGHUB"]))
    here = Path.cwd()
    for base in (here, *here.parents, Path(__file__).resolve().parents[3]):
        candidates.append(base / "shared" / "data" / "loghub")
        candidates.append(base.parent / "shared" / "data" / "loghub")
    for c in candidates:
        if (c / "Apache" / "Apache_2k.log").exists():
            return c
    raise FileNotFoundError(
        "the loghub corpus was not found; pass --loghub DIR or set OPSENGINE_LOGHUB "
        "(it lives in shared/data/loghub beside the checkout)"
    )


def loghub_lines(loghub: Path) -> list[str]:
    lines: list[str] = []
    for d in DATASETS:
        text = (loghub / d / f"{d}_2k.log").read_bytes().decode("utf-8", errors="replace")
        lines.extend(text.splitlines())
    return lines


def replicated(lines: list[str], target_bytes: int) -> pa.Array:
    """The lines repeated until they hold at least ``target_bytes`` of text."""
    size = sum(len(s.encode()) for s in lines) or 1
    reps = max(1, -(-target_bytes // size))
    return pa.array(lines * reps, type=pa.string())


def nbytes(array: pa.Array) -> int:
    """Bytes of line text (the value buffer), excluding offsets."""
    return int(array.buffers()[2].size) if array.offset == 0 else array.nbytes
