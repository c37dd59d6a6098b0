"""The HTTP API: a Litestar application over the embedded engine.

``create_app(engine, settings)`` builds it; ``opsengine run`` serves it. How to add a
domain's controller: CONVENTIONS.md beside this file. Imported lazily, so that importing one of
its modules does not build the application. Keys and audit are ``opsengine.access``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTROLLERS", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from opsengine.api import app

        return getattr(app, name)
    raise AttributeError(f"module 'opsengine.api' has no attribute {name!r}")
