"""Capacity benchmarks: how much this machine carries, beside the peers a user would otherwise pick.

Each benchmark measures opsengine and its peers in the same run, on the real
loghub corpus, and reports medians and ratios. ``opsengine bench`` runs them
all; ``benches/`` holds the pytest-benchmark entry points.
"""
