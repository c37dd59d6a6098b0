"""Capacity benchmarks: how much this machine carries, beside the peers a user would otherwise pick.

Each benchmark measures opsengine and its peers in the same run, on the real
loghub corpus, and reports medians and ratios. ``opsengine bench`` runs them
all. Beside them, in this package: the pytest-benchmark entry points (``bench_*.py``:
``pytest python/opsengine/bench/bench_store.py --benchmark-only``) and the scripts that drive
a running server or the peers (``api_server.py``, ``api_incidents.py``,
``templates_vs_drain3.py``: ``python -m opsengine.bench.api_server``).
"""
