"""The bounded work queue between HTTP ingestion and the engine.

An ingest request reads its body, then hands the batch to this queue and awaits the
result. The queue holds at most ``capacity`` batches and ``max_bytes`` of bodies (waiting
or running; one batch is always admitted when the queue is empty); when it is full,
:meth:`WorkQueue.submit` raises :class:`QueueFull` at once and the API answers 503 with ``Retry-After`` — memory never
grows with the load. ``workers`` threads run the batches; the core releases the GIL, so
one batch's parsing overlaps another's store append.

:meth:`close` stops taking work and finishes everything already accepted: graceful
shutdown loses no batch a client was told is being handled.

Jobs submitted with :meth:`WorkQueue.submit_mergeable` under the same key are taken
together by a worker when several wait: the function gets all their payloads at once
and returns one result per payload. Ingest uses this to store many small requests in
one transaction, which costs about as much as storing one of them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("opsengine.api")


MAX_MERGED = 256  # jobs stored together at most


class QueueFull(RuntimeError):
    """The queue holds ``capacity`` batches; the caller should retry later."""


class QueueClosed(RuntimeError):
    """The queue is shutting down and takes no new work."""


class WorkQueue:
    def __init__(
        self, capacity: int, workers: int = 1, *, max_bytes: int = 0, name: str = "ingest"
    ) -> None:
        if capacity < 1 or workers < 1:
            raise ValueError(f"{name} queue: capacity and workers must be >= 1")
        self.capacity = capacity
        self.max_bytes = max_bytes  # 0 = bounded by count only
        self.name = name
        # (future, fn, args, size, merge key or None)
        self._jobs: deque[tuple[Future, Callable[..., Any], tuple, int, Any]] = deque()
        self._pending = 0  # waiting + running
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def depth(self) -> int:
        return self._pending

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def submit(self, fn: Callable[..., Any], *args: Any, size: int = 0) -> Future:
        """Queue ``fn(*args)``; ``size`` is the bytes it holds (its request body)."""
        return self._put(fn, args, size, None)

    def submit_mergeable(
        self, key: Any, fn: Callable[[list[Any]], list[Any]], payload: Any, *, size: int = 0
    ) -> Future:
        """Queue ``payload`` for ``fn(payloads) -> results``, run with others of ``key``."""
        return self._put(fn, (payload,), size, key)

    def _put(self, fn: Callable[..., Any], args: tuple, size: int, key: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise QueueClosed(f"the {self.name} queue is shutting down")
            if self._pending >= self.capacity:
                raise QueueFull(f"the {self.name} queue is full ({self.capacity} batches)")
            if self.max_bytes and self._pending and self._bytes + size > self.max_bytes:
                raise QueueFull(
                    f"the {self.name} queue is full ({self._bytes:,} of {self.max_bytes:,} bytes)"
                )
            self._pending += 1
            self._bytes += size
            self._jobs.append((future, fn, args, size, key))
            self._cond.notify()
        return future

    def _take(self) -> list[tuple[Future, Callable[..., Any], tuple, int, Any]]:
        """The next job, with every waiting job of the same merge key (caller holds the lock)."""
        first = self._jobs.popleft()
        key = first[4]
        if key is None:
            return [first]
        taken, kept = [first], deque()
        while self._jobs and len(taken) < MAX_MERGED:
            job = self._jobs.popleft()
            (taken if job[4] == key else kept).append(job)
        kept.extend(self._jobs)
        self._jobs = kept
        return taken

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                jobs = self._take()
            try:
                live = [j for j in jobs if j[0].set_running_or_notify_cancel()]
                if live:
                    self._run(live)
            finally:
                with self._cond:
                    self._pending -= len(jobs)
                    self._bytes -= sum(j[3] for j in jobs)
                    self._cond.notify_all()

    @staticmethod
    def _run(jobs: list[tuple[Future, Callable[..., Any], tuple, int, Any]]) -> None:
        fn = jobs[0][1]
        try:
            results = [fn(*jobs[0][2])] if jobs[0][4] is None else fn([j[2][0] for j in jobs])
        except BaseException as e:
            for j in jobs:
                j[0].set_exception(e)
            return
        for j, result in zip(jobs, results, strict=True):
            j[0].set_result(result)

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking work, run what was accepted; True when every worker finished."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)
