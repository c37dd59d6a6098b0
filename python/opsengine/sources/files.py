"""Following log files on disk, losing nothing across rotation, truncation and crashes.

The parts, as in Vector's file source:

- *Identity* (``fingerprint_of``): a file is named by the hash of its first line (first
  ``fingerprint_lines`` lines for logs that start with a fixed header), not by its path,
  so a file renamed to ``app.log.1``, compressed to ``app.log.1.gz`` or copied there by
  copytruncate is still the same file, resumed where it was left.
- *Checkpoints* (``FileCheckpoints``): per fingerprint, the content bytes and records
  stored, written in the same DuckDB transaction as the lines they cover
  (``LogIngestor.write_lines(in_transaction=...)``): after a ``kill -9`` the store holds
  either both or neither, so a restart neither loses nor repeats a line.
- *Discovery* (``FileTailer._discover``): each poll expands the configured paths and
  globs, plus each live file's rotated siblings (``.1``, ``.2.gz``, ``-20240101``), so a
  file rotated away while the engine was down is still finished.
- *Reading* (``FileTailer._read``): whole lines only; an unfinished last line waits for
  its newline; with ``multiline_start`` a record runs until the next line matching it
  (Java stack traces), and its offset is only checkpointed once the record is complete.

Rename-and-create: the open descriptor of the renamed file is read to its end while the
new file at the path (a new first line, so a new identity) is read from its start.
Copytruncate: the file shrinks or its first line changes; it is dropped and its copy
(same first line) is resumed at the checkpoint, the truncated file starts afresh.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import itertools
import logging
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pyarrow as pa

from opsengine.ingest.logs import LogIngestor
from opsengine.ingest.reading import GZIP_MAGIC, split_lines
from opsengine.sources.background import BackgroundLoop

log = logging.getLogger(__name__)

#: Most bytes of a file's first lines that identify it.
FINGERPRINT_BYTES = 4096
#: Most bytes read from one file per poll; bounds memory and keeps files fair.
READ_BYTES = 4 << 20
READS_PER_POLL = 4
#: Most files open at once; a glob matching more is reported, the rest wait their turn.
MAX_OPEN_FILES = 1024
#: A line (or multi-line record) longer than this is stored in pieces of this size.
MAX_RECORD_BYTES = 1 << 20
#: A rotated file idle this long at its end is finished: its last partial line is stored.
ROTATED_IDLE_S = 5.0
#: A multi-line record with no new line for this long is complete.
MULTILINE_IDLE_S = 1.0
#: A .gz that still fails to decompress this long after its last change is corrupt.
GZIP_SETTLE_S = 60.0
DEFAULT_SYSTEM_LOGS = ("/var/log/syslog", "/var/log/auth.log", "/var/log/kern.log")

_WATCH_KEY = "files:watch:"  # engine_state key prefix of the watches followed so far
_ROTATION = r"[.-](?:\d{1,3}|\d{8}(?:-?\d{2,6})?)(?:\.gz)?$"  # .1 .2.gz -20240101
_ROTATED_SUFFIX = re.compile("^" + _ROTATION)
_ROTATED_TAIL = re.compile(_ROTATION)
_GLOB_CHARS = re.compile(r"[*?\[]")


def default_paths() -> list[str]:
    """The host's system logs that exist and are readable (absent ones silently skipped)."""
    return [p for p in DEFAULT_SYSTEM_LOGS if os.path.isfile(p) and os.access(p, os.R_OK)]


def fingerprint_of(head: bytes, lines: int = 1) -> str | None:
    """The identity of a file whose content starts with ``head``: its first ``lines`` lines
    (at most ``FINGERPRINT_BYTES``). None until they are complete: an empty or half-written
    file is not yet identifiable."""
    cut = -1
    for _ in range(lines):
        cut = head.find(b"\n", cut + 1)
        if cut < 0:
            break
    if cut < 0:
        if len(head) < FINGERPRINT_BYTES:
            return None
        cut = FINGERPRINT_BYTES
    return hashlib.sha256(head[:cut]).hexdigest()[:32]


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _open(path: str) -> tuple[BinaryIO, bool]:
    """The file's content stream (decompressed for gzip) and whether it is gzip."""
    raw = open(path, "rb")  # noqa: SIM115 - the tailer keeps it open across polls
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), True  # type: ignore[return-value]
    raw.seek(0)
    return raw, False


def read_fingerprint(path: str, lines: int = 1) -> str | None:
    """``fingerprint_of`` the file's (decompressed) content; None if not yet identifiable
    or unreadable (including a .gz still being written)."""
    try:
        stream, _ = _open(path)
        with stream:
            return fingerprint_of(stream.read(FINGERPRINT_BYTES), lines)
    except (OSError, EOFError, zlib.error):
        return None


def rotated_siblings(path: str) -> list[str]:
    """``path.1``, ``path.2.gz``, ``path-20240101`` …: where rotation moves ``path``."""
    folder, name = os.path.split(path)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    out = [
        os.path.join(folder, e)
        for e in entries
        if e.startswith(name) and _ROTATED_SUFFIX.match(e[len(name) :])
    ]
    return sorted(out)


def _live_files(paths: list[str]) -> list[str]:
    """``paths`` without the rotated files of others among them (``app.log*`` matches
    ``app.log.1`` too): those are read as what they are, a rotated ``app.log``."""
    live = set(paths)
    out = []
    for p in paths:
        m = _ROTATED_TAIL.search(p)
        if m is None or p[: m.start()] not in live:
            out.append(p)
    return out


@dataclass
class Checkpoint:
    watch: str
    path: str
    offset: int
    lines: int


class FileCheckpoints:
    """The ``file_checkpoints`` table: per file identity, how far its content is stored."""

    def __init__(self, store) -> None:
        self.store = store
        rows = store.query(
            "SELECT fingerprint, watch, path, offset_bytes, lines FROM file_checkpoints"
        ).to_pylist()
        self.known: dict[str, Checkpoint] = {
            r["fingerprint"]: Checkpoint(r["watch"], r["path"], r["offset_bytes"], r["lines"])
            for r in rows
        }
        # Watches followed before: their rotated files we hold no checkpoint for were
        # rotated away while the engine was down, not history from before it watched.
        keys = store.query(
            "SELECT key FROM engine_state WHERE starts_with(key, ?)", [_WATCH_KEY]
        ).column("key")
        self.watches = {c.watch for c in self.known.values()}
        self.watches |= {k[len(_WATCH_KEY) :] for k in keys.to_pylist()}

    def get(self, fp: str) -> Checkpoint | None:
        return self.known.get(fp)

    def save(self, cur, fp: str, cp: Checkpoint) -> None:
        """Write ``cp`` on ``cur`` (the caller's transaction); memory follows after commit."""
        cur.execute(
            "INSERT OR REPLACE INTO file_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
            [fp, cp.watch, cp.path, cp.offset, cp.lines, datetime.now(UTC)],
        )

    def committed(self, fp: str, cp: Checkpoint) -> None:
        self.known[fp] = cp
        self.watches.add(cp.watch)

    def watching(self, watch: str) -> None:
        """Remember that ``watch`` is followed from now on, even before it has a file."""
        if watch not in self.watches:
            self.store.set_state(_WATCH_KEY + watch, datetime.now(UTC).isoformat())
            self.watches.add(watch)

    def record(self, fp: str, cp: Checkpoint) -> None:
        """Save ``cp`` in a transaction of its own (a file first seen, nothing to store)."""
        with self.store.transaction() as cur:
            self.save(cur, fp, cp)
        self.committed(fp, cp)


@dataclass
class TrackedFile:
    """A file being read: its identity, where its committed content ends, what is buffered."""

    fp: str
    watch: str
    source: str  # the live path it belongs to: the ``source`` of its lines
    path: str
    stream: BinaryIO
    gz: bool
    dev_ino: tuple[int, int]
    offset: int  # content bytes committed to the store
    lines: int
    buf: bytes = b""  # content read after ``offset`` and not yet committed
    live: bool = True
    last_data: float = field(default_factory=time.monotonic)


class FileTailer(BackgroundLoop):
    """Follows ``paths`` (files or globs) into the store through ``ingestor``.

    ``run_once()`` does one poll (discover, read, store) and returns the records stored;
    ``start()`` polls every ``poll_ms`` in a thread until ``stop()``; ``drain()`` polls until
    nothing is left, treating rotated files as finished (used by ``opsengine tail --once``).
    """

    thread_name = "opsengine-files"

    def __init__(
        self,
        ingestor: LogIngestor,
        paths: list[str],
        *,
        multiline_start: str | None = None,
        poll_ms: int = 250,
        read_from: str = "beginning",
        host: str | None = None,
        fingerprint_lines: int = 1,
    ) -> None:
        super().__init__()
        if not 1 <= fingerprint_lines <= 20:
            raise ValueError(f"files.fingerprint_lines: 1 to 20, got {fingerprint_lines}")
        # Files that all start with the same header line need more lines to tell them apart.
        self.fingerprint_lines = fingerprint_lines
        if read_from not in ("beginning", "end"):
            raise ValueError(f"files.read_from: expected beginning or end, got {read_from!r}")
        try:
            self.multiline = re.compile(multiline_start.encode()) if multiline_start else None
        except re.error as e:
            raise ValueError(f"files.multiline_start: invalid regex: {e}") from None
        self.ingestor = ingestor
        self.watches = [os.path.abspath(p) for p in paths]
        self.poll_s = max(poll_ms, 10) / 1000
        self.read_from = read_from
        self.host = host
        self.checkpoints = FileCheckpoints(ingestor.store)
        self.files: dict[str, TrackedFile] = {}  # fingerprint → file being read
        self.finished: set[str] = set()  # fingerprints read to the end in this run
        # (dev, inode, size, mtime) → fingerprint: rotated files are not re-read every poll.
        self._fp_cache: dict[tuple[int, int, int, int], str] = {}
        self._seen_watches: set[str] = set()
        self._too_many_reported = False
        self.lines_stored = 0
        self.errors = 0
        self.last_error = ""

    # -- lifecycle -------------------------------------------------------------
    def stop(self) -> None:
        super().stop()
        for tf in list(self.files.values()):
            self._close(tf)

    def status(self) -> dict[str, Any]:
        return {
            "where": ", ".join(self.watches),
            "files_open": len(self.files),
            "lines_stored": self.lines_stored,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as e:  # a fault in one poll must not end the tailer
                self._fault(f"poll failed: {e}")
            self._stop.wait(self.poll_s)

    def drain(self, max_polls: int = 100_000) -> int:
        """Poll until a poll stores nothing, finishing rotated files; returns records stored."""
        total = 0
        for _ in range(max_polls):
            before = set(self.files)
            n = self.run_once(finish_rotated=True)
            total += n
            if n == 0 and set(self.files) == before:
                break  # nothing stored and no file dropped (copytruncate) or found
        for tf in list(self.files.values()):
            self._close(tf)
        return total

    # -- one poll ----------------------------------------------------------------
    def run_once(self, *, finish_rotated: bool = False) -> int:
        self._discover()
        stored = 0
        for tf in sorted(self.files.values(), key=lambda t: (t.live, t.path)):
            try:
                stored += self._read(tf, finish_rotated)
            except OSError as e:
                self._fault(f"{tf.path}: read failed: {e.strerror or e}")
                self._close(tf)
        return stored

    def _fault(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        log.warning("files: %s", message)

    def _discover(self) -> None:
        by_inode = {tf.dev_ino: tf for tf in self.files.values() if not tf.gz}
        if len(self._fp_cache) > 4096:
            self._fp_cache.clear()
        for tf in self.files.values():
            tf.live = False
        # Watches followed before this poll: their unknown rotated files were rotated away
        # while we were down; a new watch's rotated files are history from before it.
        self._seen_watches = set(self.checkpoints.watches)
        for watch in self.watches:
            matches = sorted(glob.glob(watch)) if _GLOB_CHARS.search(watch) else [watch]
            for live_path in _live_files(matches):
                if not os.path.isfile(live_path):
                    continue
                self._consider(watch, live_path, live_path, True, by_inode)
                for sibling in rotated_siblings(live_path):
                    self._consider(watch, live_path, sibling, False, by_inode)
            self.checkpoints.watching(watch)

    def _consider(self, watch, source, path, live, by_inode) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        tf = by_inode.get((st.st_dev, st.st_ino))
        if tf is not None:
            tf.path = path
            tf.live = tf.live or live
            return
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        fp = self._fp_cache.get(key)
        if fp is None:
            fp = read_fingerprint(path, self.fingerprint_lines)
            if fp is not None:
                self._fp_cache[key] = fp
        if fp is None or fp in self.finished:
            return
        if fp in self.files:
            self.files[fp].live = self.files[fp].live or live
            return  # the same content elsewhere (a copy, or the .gz of an open file)
        cp = self.checkpoints.get(fp)
        if cp is None:
            seen_before = watch in self._seen_watches
            if live and (seen_before or self.read_from == "beginning"):
                start = 0
            elif not live and seen_before:
                start = 0  # rotated away before we saw it, while we were down
            else:
                start = -1  # history from before we watched: skip to its end
            cp = Checkpoint(watch, path, start, 0)
        self._track(fp, cp, source, path, live, st)

    def _track(self, fp, cp: Checkpoint, source, path, live, st) -> None:
        if len(self.files) >= MAX_OPEN_FILES:
            if not self._too_many_reported:
                self._fault(f"{path}: not followed: {MAX_OPEN_FILES} files are open already")
                self._too_many_reported = True
            return
        try:
            stream, gz = _open(path)
        except OSError as e:
            self._fault(f"{path}: cannot open: {e.strerror or e}")
            return
        try:
            if cp.offset < 0:
                if gz:
                    while stream.read(READ_BYTES):  # gzip cannot seek from its end
                        pass
                else:
                    stream.seek(0, os.SEEK_END)
                cp = Checkpoint(cp.watch, path, stream.tell(), 0)
            else:
                stream.seek(cp.offset)
            if gz and stream.tell() != cp.offset:
                self.finished.add(fp)  # shorter than the checkpoint: nothing left
                stream.close()
                return
        except (OSError, EOFError, zlib.error):
            stream.close()
            return  # a .gz still being written: try again next poll
        if fp not in self.checkpoints.known:
            self.checkpoints.record(fp, Checkpoint(cp.watch, path, cp.offset, cp.lines))
        self.files[fp] = TrackedFile(
            fp=fp,
            watch=cp.watch,
            source=source,
            path=path,
            stream=stream,
            gz=gz,
            dev_ino=(st.st_dev, st.st_ino),
            offset=cp.offset,
            lines=cp.lines,
            live=live,
        )

    def _close(self, tf: TrackedFile, finished: bool = False) -> None:
        with contextlib.suppress(OSError):
            tf.stream.close()
        self.files.pop(tf.fp, None)
        if finished:
            self.finished.add(tf.fp)

    # -- reading one file ------------------------------------------------------
    def _replaced(self, tf: TrackedFile) -> bool:
        """Truncated (copytruncate) or rewritten in place: its content is no longer ours."""
        fd = tf.stream.fileno()
        if os.fstat(fd).st_size < tf.offset + len(tf.buf):
            return True
        head = os.pread(fd, FINGERPRINT_BYTES, 0)
        return fingerprint_of(head, self.fingerprint_lines) != tf.fp

    def _read(self, tf: TrackedFile, finish_rotated: bool) -> int:
        if not tf.gz and self._replaced(tf):
            # Its copy (same first line) is found and resumed by the next discovery.
            self._close(tf)
            return 0
        stored = 0
        for _ in range(READS_PER_POLL):
            try:
                chunk = tf.stream.read(READ_BYTES)
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                # Being written by the compressor, or damaged: retry while it is fresh.
                stale = time.time() - os.stat(tf.path).st_mtime > GZIP_SETTLE_S
                if stale:
                    self._fault(f"{tf.path}: corrupt gzip after {tf.offset} bytes: {e}")
                self._close(tf, finished=stale)
                return stored
            if not chunk:
                break
            tf.buf += chunk
            tf.last_data = time.monotonic()
            stored += self._store_records(tf, final=False)
        else:
            return stored  # more to read: the next poll goes on, other files get their turn
        idle = time.monotonic() - tf.last_data
        ended = not tf.live and (finish_rotated or idle >= ROTATED_IDLE_S)
        if finish_rotated:
            idle = max(idle, MULTILINE_IDLE_S)  # draining: a held record is complete
        if tf.buf:
            stored += self._store_records(tf, final=ended, idle=idle)
        if ended:
            self._close(tf, finished=True)
        return stored

    def _split(self, tf: TrackedFile, final: bool, idle: float) -> tuple[list[bytes], int]:
        """Complete records at the start of ``tf.buf`` and the bytes they cover."""
        buf = tf.buf
        end = len(buf) if final else buf.rfind(b"\n") + 1
        if end == 0 and len(buf) >= MAX_RECORD_BYTES:
            end = MAX_RECORD_BYTES  # a runaway line: store it in pieces rather than grow
        if end == 0:
            return [], 0
        body = buf[:end]
        if self.multiline is None:
            return [body], end
        # A record starts at the first line and at every line matching the start pattern.
        bounds = [0]
        pos = body.find(b"\n")
        while 0 <= pos < end - 1:
            if self.multiline.match(body, pos + 1):
                bounds.append(pos + 1)
            pos = body.find(b"\n", pos + 1)
        held = bounds[-1]  # the last record may still grow
        if final or idle >= MULTILINE_IDLE_S or end - held >= MAX_RECORD_BYTES:
            held = end
        cuts = [b for b in bounds if b < held] + [held]
        records = [body[a:b].rstrip(b"\n") for a, b in itertools.pairwise(cuts)]
        return records, held

    def _store_records(self, tf: TrackedFile, *, final: bool, idle: float = 0.0) -> int:
        records, covered = self._split(tf, final, idle)
        if covered == 0:
            return 0
        if self.multiline is None:
            lines = split_lines(records[0])
        else:
            lines = pa.array(
                [r.decode("utf-8", errors="replace").replace("\r\n", "\n") for r in records],
                pa.string(),
            )
        cp = Checkpoint(tf.watch, tf.path, tf.offset + covered, tf.lines + len(lines))
        self.ingestor.write_lines(
            lines,
            source=tf.source,
            host=self.host,
            in_transaction=lambda cur: self.checkpoints.save(cur, tf.fp, cp),
        )
        self.checkpoints.committed(tf.fp, cp)
        tf.offset, tf.lines = cp.offset, cp.lines
        tf.buf = tf.buf[covered:]
        self.lines_stored += len(lines)
        return len(lines)
