"""A source's background thread: started once, stopped by an event it waits on, so that
``stop()`` ends a sleeping poll loop at once instead of after its interval."""

from __future__ import annotations

import threading


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
