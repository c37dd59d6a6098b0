"""Snapshots of the tracked configuration items (``engine.config``) every ``[config]
interval_s`` (60 s): new versions, the audit trail and drift alerts as the files change.
The first snapshot is taken at start, so drift that happened while the engine was down
is seen at once."""

from __future__ import annotations

from typing import Any

from opsengine.sources.background import PeriodicTask


class ConfigSnapshotter(PeriodicTask):
    thread_name = "opsengine-config-snapshots"

    def __init__(self, config: Any, interval_s: float) -> None:
        super().__init__(interval_s, first_wait_s=0.0)
        self.config = config  # opsengine.config_mgmt.service.ConfigService
        self.versions = 0
        self.file_errors = 0

    def run_once(self) -> None:
        results = self.config.snapshot()
        self.versions += sum(r["changed"] for r in results)
        self.file_errors = sum(len(r["errors"]) for r in results)

    def status(self) -> dict[str, Any]:
        return {
            **super().status(),
            "new_versions": self.versions,
            "file_errors": self.file_errors,
        }
