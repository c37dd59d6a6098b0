"""The template miner through its Python API, on the real loghub lines."""

from __future__ import annotations

import csv

import pyarrow as pa
import pytest
from opsengine import TemplateMiner

from tests.support.loghub import LOGHUB, needs_loghub


def grouping_accuracy(predicted: list[int], truth: list[str]) -> float:
    by_pred: dict[int, set[int]] = {}
    by_true: dict[str, set[int]] = {}
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        by_pred.setdefault(p, set()).add(i)
        by_true.setdefault(t, set()).add(i)
    correct = sum(1 for i, p in enumerate(predicted) if by_pred[p] == by_true[truth[i]])
    return correct / len(predicted)


@needs_loghub
@pytest.mark.parametrize(
    ("dataset", "floor"), [("HDFS", 0.99), ("OpenSSH", 0.99), ("Proxifier", 0.99), ("Linux", 0.80)]
)
def test_groups_loghub_lines_like_the_ground_truth(dataset, floor):
    with open(
        LOGHUB / dataset / f"{dataset}_2k.log_structured.csv", newline="", encoding="utf-8"
    ) as f:
        rows = list(csv.DictReader(f))
    miner = TemplateMiner()
    ids = miner.mine([r["Content"] for r in rows]).to_pylist()
    assert grouping_accuracy(ids, [r["EventId"] for r in rows]) >= floor
    table = miner.templates()
    assert table.column_names == ["id", "template", "count"]
    assert sum(table.column("count").to_pylist()) == len(rows)


def test_ids_are_stable_across_calls_and_save_load():
    miner = TemplateMiner()
    first = miner.mine(["Connection from 10.0.0.1 closed", "Disk /dev/sda1 is 91% full", None])
    assert first.type == pa.uint32()
    assert first.to_pylist()[2] is None
    restored = TemplateMiner.load(miner.save())
    again = restored.mine(
        pa.array(["Connection from 10.9.9.9 closed", "Disk /dev/sdb2 is 97% full"])
    )
    assert again.to_pylist() == first.to_pylist()[:2]
    assert len(restored) == len(miner) == 2


def test_bad_settings_and_state_are_clear_errors():
    with pytest.raises(ValueError, match="unknown template miner setting 'depht'"):
        TemplateMiner(depht=4)
    with pytest.raises(ValueError, match="template miner state"):
        TemplateMiner.load(b"not a saved miner")
    assert TemplateMiner(sim_threshold=0.5).settings["sim_threshold"] == 0.5
