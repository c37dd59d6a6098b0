"""Log-template mining: every line gets the id of its shape (a Drain-style template).

The miner lives in the compiled core (``core/src/templates/``); this is its
Python face. Ids are stable across calls and across save/load.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from opsengine import _core
from opsengine.rules.ruleset import as_lines


class TemplateMiner:
    """A streaming template miner: ``mine(lines)`` gives one template id per line."""

    def __init__(self, **settings: Any) -> None:
        known = _core.TemplateMiner.default_settings()
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(
                f"unknown template miner setting '{unknown[0]}' (known: {', '.join(sorted(known))})"
            )
        self._miner = _core.TemplateMiner({**known, **settings})  # type: ignore[typeddict-item]

    @classmethod
    def load(cls, state: bytes) -> TemplateMiner:
        """A miner restored from ``save()``; raises ValueError on damaged state."""
        miner = cls.__new__(cls)
        miner._miner = _core.TemplateMiner.load(state)
        return miner

    def save(self) -> bytes:
        return self._miner.save()

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._miner.settings())

    def __len__(self) -> int:
        return len(self._miner)

    def mine(self, lines: Any) -> pa.UInt32Array:
        """Template ids, one per line in the same order (null for a null line)."""
        return self._miner.mine(as_lines(lines)).column(0)

    def mine_with_news(self, lines: Any) -> pa.RecordBatch:
        """``template_id`` and ``is_new`` (a never-seen shape after the warm-up) per line."""
        return self._miner.mine(as_lines(lines))

    def templates(self) -> pa.Table:
        """Every template: ``id``, ``template`` (variables as ``<*>``) and ``count``."""
        ids, texts, counts = self._miner.templates()
        return pa.table(
            {
                "id": pa.array(ids, pa.uint32()),
                "template": pa.array(texts, pa.string()),
                "count": pa.array(counts, pa.uint64()),
            }
        )
