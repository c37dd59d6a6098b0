"""opsengine's tests, one folder per domain (``tests/<domain>/``); shared helpers in
``tests.support``. Run from the repository root: ``python -m pytest tests/incidents -q``."""
