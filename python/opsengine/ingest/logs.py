"""Log ingestion: blocks of lines → header parsing and rule matching in the core → one
store transaction per block holding the ``logs`` rows, their ``events`` and the
checkpoint that covers them.

Re-ingesting content already stored is a no-op: a source is recognised by the
hash of its first 4 KiB and proven the same by the hash of the whole prefix
already stored, so a file that grew since is resumed where it ended and an
identical copy under another name is not counted twice.
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsengine import _core
from opsengine.future_times import FutureTimes
from opsengine.ingest.log_templates import LogTemplates, MinedTemplates
from opsengine.ingest.reading import (
    BLOCK_BYTES,
    HEAD_BYTES,
    CorruptInputError,
    open_content,
    read_blocks,
    skip_prefix,
)
from opsengine.rules import RuleSet
from opsengine.store import Store, StoreError
from opsengine.store.segments import conform

#: engine_state key of the next ``logs.id``.
LOG_ID_SEQUENCE = "seq:logs"

_ARANGE_LEN = 1 << 20
_ARANGE = pa.array(np.arange(_ARANGE_LEN, dtype=np.int64))  # no Python loop at import


#: Prepared blocks waiting for the store; with 4 MiB blocks, about 3 blocks are in memory.
PIPELINE_DEPTH = 2


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class IngestError(RuntimeError):
    """Ingestion stopped; the message names the source and how far it got."""


@dataclass
class IngestResult:
    source: str
    lines: int = 0
    events: int = 0
    bytes: int = 0
    skipped_lines: int = 0
    skipped_bytes: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(
        default_factory=lambda: {
            "read": 0.0,
            "parse": 0.0,
            "match": 0.0,
            "templates": 0.0,
            "store": 0.0,
        }
    )

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


_FIELDS = pa.map_(pa.string(), pa.string())


def fields_map(captures: dict[str, pa.Array], n: int) -> pa.Array:
    """An event's ``fields``: per row, the capture columns that are set, as a map (empty
    when none is; NULL for every row when the rule set captures nothing)."""
    if not captures:
        return pa.nulls(n, _FIELDS)
    names = list(captures)
    k = len(names)
    column_major = pa.concat_arrays([captures[c].cast(pa.string()) for c in names])
    row_major = np.arange(n * k, dtype=np.int64).reshape(k, n).T.ravel()
    values = column_major.take(pa.array(row_major))
    keys = pa.array(names, pa.string()).take(pa.array(np.tile(np.arange(k), n)))
    present = values.is_valid()
    per_row = np.asarray(present, dtype=bool).reshape(n, k).sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    return pa.MapArray.from_arrays(
        pa.array(offsets), keys.filter(present), values.filter(present), type=_FIELDS
    )


def _constant(value, n: int, type_: pa.DataType) -> pa.Array:
    return pa.nulls(n, type_).fill_null(pa.scalar(value, type_))


def _arange(start: int, n: int) -> pa.Array:
    if n <= _ARANGE_LEN:
        return pc.add(_ARANGE.slice(0, n), pa.scalar(start, pa.int64()))
    return pa.array(range(start, start + n), pa.int64())


@dataclass(frozen=True)
class RuleMatching:
    """One rule set and what storing its matches needs (severity, category and kept fields
    per rule index). A batch keeps the one it was matched with, so a reload between its
    match and its store cannot pair rule indices of the old set with the new set's rules."""

    rules: RuleSet
    severity: pa.Array
    category: pa.Array
    # A rule's `fields:` may name fewer groups than its pattern has: per capture column,
    # which rules keep it (only for columns where some rule drops it).
    kept_fields: dict[str, pa.BooleanArray]

    @classmethod
    def of(cls, rules: RuleSet) -> RuleMatching:
        log_rules = rules.log_rules
        cols = rules.capture_columns
        kept_fields: dict[str, pa.BooleanArray] = {}
        for c in cols:
            keep = [c in r.fields or c not in r.groups for r in log_rules]
            if not all(keep):
                kept_fields[c] = pa.array(keep, pa.bool_())
        return cls(
            rules=rules,
            severity=pa.array([r.severity for r in log_rules], pa.string()),
            category=pa.array([r.category for r in log_rules], pa.string()),
            kept_fields=kept_fields,
        )


@dataclass
class PreparedLines:
    """A batch after the compute stages, ready for ``LogIngestor.store_batch``."""

    lines: pa.Array
    headers: pa.RecordBatch
    matches: pa.RecordBatch
    templates: MinedTemplates | None
    matching: RuleMatching  # the rule set ``matches`` came from


class LogIngestor:
    """Writes batches of log lines, with their rule matches, into the store.

    Every source holds the engine's one ingestor, so ``reload(rules)`` reaches them all at
    once (file tailer, syslog listener, API ingest): each batch is matched entirely with the
    set that was current when its matching began, and stored with that same set.
    """

    def __init__(
        self,
        store: Store,
        rules: RuleSet,
        *,
        threads: int = 0,
        templates: LogTemplates | None = None,
        block_bytes: int = BLOCK_BYTES,
        future: FutureTimes | None = None,
    ) -> None:
        self.store = store
        self.threads = threads
        self.block_bytes = block_bytes
        # Event times past the engine's clock plus the tolerated skew become receive times.
        self.future = future or FutureTimes()
        # Template mining (logs.template_id, log_templates, kind: new_template); None: off.
        self.templates = templates
        self._reload_lock = threading.Lock()
        self._matching = RuleMatching.of(rules)
        self._arrow_sql = duckdb.connect()  # Arrow-to-Arrow SQL (new_template events)

    @property
    def rules(self) -> RuleSet:
        """The rule set new batches are matched with."""
        return self._matching.rules

    def reload(self, rules: RuleSet) -> None:
        """Match ``rules`` from the next batch on; a batch already matched keeps its set."""
        matching = RuleMatching.of(rules)  # built before the swap: readers never wait
        with self._reload_lock:  # two reloads at once: templates and matching from one
            if self.templates is not None:
                self.templates.rules = tuple(rules.new_template_rules)
            self._matching = matching

    # -- one batch ---------------------------------------------------------
    def write_lines(
        self,
        lines: pa.Array,
        *,
        source: str,
        host: str | None = None,
        reference_ts_us: int | None = None,
        checkpoint: dict | None = None,
        stages: dict[str, float] | None = None,
        in_transaction: Callable[[Any], None] | None = None,
        sender_hosts: pa.Array | None = None,
    ) -> tuple[int, int]:
        """Parse, match and store ``lines`` in one transaction; returns (lines, events).

        ``in_transaction(cursor)`` runs inside that transaction after the rows are written:
        a source saves the offsets that cover these lines there (sources/files.py), so
        both commit together or not at all. ``sender_hosts`` (one per line) is the host
        of lines whose header names none (the syslog peer's address).
        """
        stages = stages if stages is not None else {}
        if len(lines) == 0 and checkpoint is None and in_transaction is None:
            return 0, 0
        batch = self.prepare(lines, reference_ts_us=reference_ts_us, stages=stages)
        return self.store_batch(
            batch,
            source=source,
            host=host,
            checkpoint=checkpoint,
            stages=stages,
            in_transaction=in_transaction,
            sender_hosts=sender_hosts,
        )

    def prepare(
        self,
        lines: pa.Array,
        *,
        reference_ts_us: int | None = None,
        stages: dict[str, float] | None = None,
    ) -> PreparedLines:
        """The compute half of a batch (headers, rule matches, template ids); no store access.

        Batches must be prepared in the order they are stored: the template miner is
        stateful. ``store_batch`` may run in another thread, overlapping the next prepare.
        """
        stages = stages if stages is not None else {}
        t0 = time.perf_counter()
        headers = _core.parse_headers(lines, reference_ts_us=reference_ts_us, threads=self.threads)
        t1 = time.perf_counter()
        matching = self._matching  # read once: the whole batch is matched with one set
        matches = matching.rules.match(lines, threads=self.threads)
        t2 = time.perf_counter()
        mined = None
        if self.templates is not None and len(lines):
            mined = self.templates.mine(headers.column("message"))
        t3 = time.perf_counter()
        stages["parse"] = stages.get("parse", 0.0) + (t1 - t0)
        stages["match"] = stages.get("match", 0.0) + (t2 - t1)
        stages["templates"] = stages.get("templates", 0.0) + (t3 - t2)
        return PreparedLines(lines, headers, matches, mined, matching)

    def store_batch(
        self,
        batch: PreparedLines,
        *,
        source: str,
        host: str | None = None,
        checkpoint: dict | None = None,
        stages: dict[str, float] | None = None,
        in_transaction: Callable[[Any], None] | None = None,
        sender_hosts: pa.Array | None = None,
    ) -> tuple[int, int]:
        """Write a prepared batch (logs, events, templates, checkpoint) in one transaction."""
        stages = stages if stages is not None else {}
        t0 = time.perf_counter()
        lines, headers, matches = batch.lines, batch.headers, batch.matches
        n = len(lines)
        now = datetime.now(UTC)
        parsed_ts = headers.column("ts")
        ts = self.future.clamp_log_times(parsed_ts, now)
        if ts is not parsed_ts:
            headers = headers.set_column(headers.schema.get_field_index("ts"), "ts", ts)
        # --host names the machine the lines came from; it wins over a parsed host.
        host_col = _constant(host, n, pa.string()) if host else headers.column("host")
        if sender_hosts is not None and not host:
            host_col = pc.coalesce(host_col, sender_hosts.cast(pa.string()))
        history = self.store.history
        with history.lock:  # ids are reserved, written and committed in order
            first_id = int(self.store.get_state(LOG_ID_SEQUENCE, "1"))
            ids = _arange(first_id, n)
            template_ids = pa.nulls(n, pa.uint32())
            new_template_events = None
            if batch.templates is not None and self.templates is not None:
                template_ids = batch.templates.ids
                new_template_events = self.templates.new_template_events(
                    self._arrow_sql,
                    batch.templates,
                    ts=headers.column("ts"),
                    host=host_col,
                    level=headers.column("level"),
                    log_ids=ids,
                    source=source,
                )
            logs = pa.table(
                {
                    "id": ids,
                    "ts": headers.column("ts"),
                    "ingested_at": _constant(now, n, pa.timestamp("us", tz="UTC")),
                    "host": host_col,
                    "source": _constant(source, n, pa.string()),
                    "app": headers.column("app"),
                    "pid": headers.column("pid"),
                    "level": headers.column("level"),
                    "message": headers.column("message"),
                    "raw": lines,
                    "template_id": template_ids,
                }
            )
            parts = []
            if matches.num_rows:
                parts.append(self._rule_events(batch, logs, first_id, source))
            if new_template_events is not None and new_template_events.num_rows:
                parts.append(new_template_events)
            events = pa.concat_tables([conform("events", p) for p in parts]) if parts else None
            events_count = events.num_rows if events is not None else 0

            def in_same_transaction(cur) -> None:
                cur.execute(
                    "INSERT OR REPLACE INTO engine_state VALUES (?, ?)",
                    [LOG_ID_SEQUENCE, str(first_id + n)],
                )
                if batch.templates is not None and self.templates is not None:
                    self.templates.record(
                        cur,
                        batch.templates,
                        messages=headers.column("message"),
                        ts=headers.column("ts"),
                        log_ids=ids,
                        source=source,
                        now=now,
                    )
                if checkpoint is not None:
                    self._save_checkpoint(cur, checkpoint, now)
                if in_transaction is not None:
                    in_transaction(cur)

            tables = {"logs": logs}
            if events is not None:
                tables["events"] = events
            self.store.append_history(tables, stored_at=now, in_transaction=in_same_transaction)
        stages["store"] = stages.get("store", 0.0) + (time.perf_counter() - t0)
        return n, events_count

    def _rule_events(
        self, batch: PreparedLines, logs: pa.Table, first_id: int, source: str
    ) -> pa.Table:
        """The ``events`` rows of a batch's rule matches (captures folded into ``fields``)."""
        matches = batch.matches
        rows = matches.column("row")
        rule_idx = matches.column("rule").indices
        captures = {}
        for c in batch.matching.rules.capture_columns:
            kept = batch.matching.kept_fields.get(c)
            column = matches.column(c)
            if kept is not None:  # some rule captures c but does not list it in fields
                column = pc.if_else(kept.take(rule_idx), column, None)
            captures[c] = column
        return pa.table(
            {
                "ts": logs.column("ts").take(rows),
                "host": logs.column("host").take(rows),
                "source": _constant(source, matches.num_rows, pa.string()),
                "rule": matches.column("rule").dictionary_decode(),
                "severity": batch.matching.severity.take(rule_idx),
                "category": batch.matching.category.take(rule_idx),
                "fields": fields_map(captures, matches.num_rows),
                "log_id": pc.add(rows.cast(pa.int64()), pa.scalar(first_id, pa.int64())),
            }
        )

    @staticmethod
    def _save_checkpoint(cur, cp: dict, now: datetime) -> None:
        cur.execute(
            "DELETE FROM ingest_checkpoints WHERE head_hash = ? AND source = ?",
            [cp["head_hash"], cp["source"]],
        )
        cur.execute(
            "INSERT INTO ingest_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
            [
                cp["source"],
                cp["head_hash"],
                cp["bytes_done"],
                cp["prefix_hash"],
                cp["lines_done"],
                now,
            ],
        )

    # -- whole sources -----------------------------------------------------
    def _find_resume(self, path: Path, head_hash: str) -> tuple[int, int, hashlib._Hash]:
        """(bytes, lines, hasher-after-them) of content already stored from this file's content."""
        rows = (
            self.store.cursor()
            .execute(
                "SELECT bytes_done, lines_done, prefix_hash FROM ingest_checkpoints "
                "WHERE head_hash = ? ORDER BY bytes_done DESC",
                [head_hash],
            )
            .fetchall()
        )
        for bytes_done, lines_done, prefix_hash in rows:
            h = hashlib.sha256()
            with open_content(path) as stream:
                if skip_prefix(stream, bytes_done, h) and h.hexdigest() == prefix_hash:
                    return bytes_done, lines_done, h
        return 0, 0, hashlib.sha256()

    def ingest_file(
        self,
        path: str | Path,
        *,
        source: str | None = None,
        host: str | None = None,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> IngestResult:
        """Ingest a plain or gzip file; content already stored is skipped."""
        path = Path(path)
        source = source or str(path)
        result = IngestResult(source=source)
        started = time.perf_counter()
        try:
            with open_content(path) as stream:
                head = stream.read(HEAD_BYTES)
        except (OSError, EOFError) as e:
            if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
                raise IngestError(f"{path}: cannot read: {e.strerror or e}") from None
            raise IngestError(f"{path}: corrupt input: {e}") from None
        head_hash = hashlib.sha256(head).hexdigest()
        skip_bytes, skip_lines, hasher = self._find_resume(path, head_hash)
        result.skipped_bytes, result.skipped_lines = skip_bytes, skip_lines
        reference = int(path.stat().st_mtime * 1_000_000)
        cp = {
            "source": source,
            "head_hash": head_hash,
            "bytes_done": skip_bytes,
            "lines_done": skip_lines,
        }
        try:
            with open_content(path) as stream:
                if skip_bytes:
                    skip_prefix(stream, skip_bytes, hashlib.sha256())
                self._ingest_stream(stream, result, cp, hasher, host, reference, progress)
        except CorruptInputError as e:
            raise IngestError(
                f"{path}: corrupt input after {cp['bytes_done']} content bytes "
                f"({result.lines} lines of this run stored, they are kept): {e}"
            ) from None
        except StoreError as e:
            raise StoreError(
                f"{path}: stopped after {cp['lines_done']:,} lines stored "
                f"({result.lines:,} of them by this run; running again resumes there): {e}"
            ) from None
        finally:
            result.seconds = time.perf_counter() - started
        return result

    def ingest_stream(
        self,
        stream: BinaryIO,
        *,
        source: str,
        host: str | None = None,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> IngestResult:
        """Ingest a stream (e.g. stdin). Streams cannot be re-read, so they are not deduplicated."""
        result = IngestResult(source=source)
        started = time.perf_counter()
        try:
            self._ingest_stream(stream, result, None, None, host, None, progress, live=True)
        except CorruptInputError as e:
            raise IngestError(
                f"{source}: unreadable input after {result.bytes} bytes: {e}"
            ) from None
        finally:
            result.seconds = time.perf_counter() - started
        return result

    def _ingest_stream(
        self, stream, result, cp, hasher, host, reference, progress, live=False
    ) -> None:
        """Store every block of ``stream``; ``cp`` (with ``hasher``) is the checkpoint to advance.

        Two stages overlap: a thread reads and prepares (parse, match, mine) the next block
        while this one stores the previous; both release the GIL for their heavy parts. The
        queue between them holds at most ``PIPELINE_DEPTH`` blocks, bounding memory. ``cp`` is
        advanced only after a block's transaction committed, so on any error it (and the
        error message) says exactly what is stored.
        """
        live = live and hasattr(stream, "read1") and hasattr(stream, "fileno")
        handoff: queue.Queue = queue.Queue(maxsize=PIPELINE_DEPTH)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    handoff.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            pending = dict(cp) if cp is not None else None
            try:
                t = time.perf_counter()
                for block in read_blocks(stream, hasher, live=live, block_bytes=self.block_bytes):
                    result.stages["read"] += time.perf_counter() - t
                    block_cp = None
                    if pending is not None:
                        pending["bytes_done"] += block.nbytes
                        pending["lines_done"] += len(block.lines)
                        pending["prefix_hash"] = hasher.hexdigest()
                        block_cp = dict(pending)
                    prepared = self.prepare(
                        block.lines, reference_ts_us=reference, stages=result.stages
                    )
                    if not put((block.nbytes, prepared, block_cp)):
                        return
                    t = time.perf_counter()
                result.stages["read"] += time.perf_counter() - t
                put(_END)
            except BaseException as e:  # handed to the storing side, which raises it
                put(_Failed(e))

        producer = threading.Thread(target=produce, name="ingest-prepare", daemon=True)
        producer.start()
        try:
            while True:
                item = handoff.get()
                if item is _END:
                    break
                if isinstance(item, _Failed):
                    raise item.error
                nbytes, prepared, block_cp = item
                n, ev = self.store_batch(
                    prepared,
                    source=result.source,
                    host=host,
                    checkpoint=block_cp,
                    stages=result.stages,
                )
                if block_cp is not None:
                    cp.update(block_cp)
                result.lines += n
                result.events += ev
                result.bytes += nbytes
                if progress is not None:
                    progress(result)
        finally:
            stop.set()
            producer.join(timeout=10)  # a live source may sit in a read; it is a daemon


def terminal_progress(every: float = 0.5) -> Callable[[IngestResult], None]:
    """A progress line on stderr (lines and lines/s), redrawn at most every ``every`` seconds."""
    started = time.perf_counter()
    last = [0.0]

    def show(r: IngestResult) -> None:
        now = time.perf_counter()
        if now - last[0] < every:
            return
        last[0] = now
        rate = r.lines / max(now - started, 1e-9)
        sys.stderr.write(
            f"\r{r.source}: {r.lines:,} lines, {r.events:,} events, {rate:,.0f} lines/s "
        )
        sys.stderr.flush()

    return show
