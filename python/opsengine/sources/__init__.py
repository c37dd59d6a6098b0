"""Sources: where signals enter the engine — log files followed on disk, the syslog
listener, uptime probes and the host collector. ``start_sources`` (runner.py) starts the
configured ones for ``opsengine run``; each module also works on its own.
"""

from opsengine.sources.runner import RunningSources, start_sources

__all__ = ["RunningSources", "start_sources"]
