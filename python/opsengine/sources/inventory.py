"""The inventory collector: this host's software and hardware (``engine.inventory``) every
``[inventory] interval_s`` (1 h), then the version policies checked against it. The first
run is at start."""

from __future__ import annotations

from typing import Any

from opsengine.sources.background import PeriodicTask


class InventoryCollector(PeriodicTask):
    thread_name = "opsengine-inventory"

    def __init__(self, inventory: Any, interval_s: float) -> None:
        super().__init__(interval_s, first_wait_s=0.0)
        self.inventory = inventory  # opsengine.config_mgmt.inventory_service.InventoryService
        self.last: dict[str, Any] = {}

    def run_once(self) -> None:
        run = self.inventory.collect()
        results = self.inventory.check()
        self.last = {
            "items": run["items"],
            "changes": run["changes"],
            "errors": run["errors"],
            "violations": sum(r["status"] == "violation" for r in results),
        }

    def status(self) -> dict[str, Any]:
        return {**super().status(), "last": self.last}
