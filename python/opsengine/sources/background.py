"""A source's background thread: started once, stopped by an event it waits on, so that
``stop()`` ends a sleeping poll loop at once instead of after its interval."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Base for sources that run ``_loop()`` in a daemon thread until ``stop()``.

    ``_loop`` must return soon after ``self._stop`` is set (wait on it, never ``sleep``).
    """

    thread_name = "opsengine-source"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None


class PeriodicTask(BackgroundLoop):
    """Calls ``run_once()`` every ``interval_s`` (the first time after ``first_wait_s``);
    a failing run is logged and counted, and the next one tries again."""

    def __init__(self, interval_s: float, *, first_wait_s: float | None = None) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.first_wait_s = interval_s if first_wait_s is None else first_wait_s
        self.runs = 0
        self.errors = 0
        self.last_error = ""

    def run_once(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        wait = self.first_wait_s
        while not self._stop.wait(wait):
            wait = self.interval_s
            try:
                self.run_once()
            except Exception as e:
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("%s failed", self.thread_name)
                continue
            self.runs += 1

    def status(self) -> dict[str, Any]:
        return {
            "where": f"every {self.interval_s:g} s",
            "runs": self.runs,
            "errors": self.errors,
            "last_error": self.last_error,
        }
