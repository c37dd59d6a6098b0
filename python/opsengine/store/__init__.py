"""The history store: one DuckDB file, numbered migrations, appends from Arrow batches."""

from opsengine.store.db import DEFAULT_DB, Store, StoreError, StoreLockedError, connect

__all__ = ["DEFAULT_DB", "Store", "StoreError", "StoreLockedError", "connect"]
