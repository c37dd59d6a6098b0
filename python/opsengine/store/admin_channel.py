"""The admin channel: how other processes read a database this process holds open.

DuckDB lets one process open a file for writing, so ``opsengine sql`` and
``opsengine query`` cannot open the store while the engine runs. The engine
serves this channel instead: a Unix domain socket at ``<db path>.sock`` (mode
0600, same-user peers only) on which a client sends one read-only SQL text or
named query and receives the result as an Arrow IPC stream (wire format in
``admin_protocol``). Each request runs on its own cursor of the holder's
connection, inside a ``READ ONLY`` transaction, so the holder's writer carries on.

    channel = AdminChannel(store).start()   # in the process that holds the store
    ...
    channel.close()                         # removes the socket file
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from opsengine.store import admin_protocol as wire
from opsengine.store.db import Store, StoreError
from opsengine.store.named_queries import NamedQuery, QueryError, find_query, load_queries
from opsengine.store.sql_gate import WriteRefusedError, read_only_statements


class _BadRequest(ValueError):
    """A request that is not of the protocol's shape."""


class AdminChannel:
    """Serves read-only SQL and named queries over ``<db path>.sock`` from a daemon thread."""

    def __init__(
        self,
        store: Store,
        *,
        row_limit: int = wire.DEFAULT_ROW_LIMIT,
        statement_timeout: float = 300.0,
        max_clients: int = 8,
        io_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.path = wire.socket_path_for(store.path)
        self.row_limit = row_limit
        self.statement_timeout = statement_timeout
        self.io_timeout = io_timeout
        self._client_slots = threading.BoundedSemaphore(max_clients)
        self._in_flight: dict[threading.Thread, duckdb.DuckDBPyConnection | None] = {}
        self._in_flight_lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._socket_inode: int | None = None
        self._queries: Mapping[str, NamedQuery] | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> AdminChannel:
        """Bind the socket (replacing a stale one) and serve it from a daemon thread."""
        if self._listener is not None:
            return self
        _remove_stale_socket(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with wire.unix_address(self.path) as address:
                listener.bind(address)
            os.chmod(self.path, 0o600)
            listener.listen(16)
            listener.settimeout(0.2)
            self._socket_inode = os.stat(self.path).st_ino
        except OSError as e:
            listener.close()
            raise StoreError(f"{self.path}: cannot serve the admin channel: {e}") from None
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"admin-channel:{self.path.name}", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and remove the socket file (only if it is still ours)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._stop_in_flight_requests()
        with contextlib.suppress(OSError):
            if self._socket_inode is not None and os.stat(self.path).st_ino == self._socket_inode:
                os.unlink(self.path)
        self._socket_inode = None

    def _stop_in_flight_requests(self) -> None:
        """Interrupt running requests so the holder can close its store right after us."""
        with self._in_flight_lock:
            in_flight = dict(self._in_flight)
        for cursor in in_flight.values():
            if cursor is not None:
                with contextlib.suppress(duckdb.Error):
                    cursor.interrupt()
        for handler in in_flight:
            handler.join(timeout=5)

    def __enter__(self) -> AdminChannel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ---------------------------------------------------------
    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if not self._client_slots.acquire(blocking=False):
                with client, contextlib.suppress(OSError):
                    wire.send_error(client, "failed", "the admin channel is busy; try again")
                continue
            handler = threading.Thread(target=self._handle_client, args=(client,), daemon=True)
            with self._in_flight_lock:
                self._in_flight[handler] = None
            handler.start()

    def _handle_client(self, client: socket.socket) -> None:
        try:
            with client:
                client.settimeout(self.io_timeout)
                self._answer(client)
        except OSError:
            pass  # the client went away; nothing to tell anyone
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(threading.current_thread(), None)
            self._client_slots.release()

    def _answer(self, client: socket.socket) -> None:
        peer = wire.peer_credentials(client)
        if peer is not None and peer[1] not in (os.geteuid(), 0):
            wire.send_error(client, "refused", "the admin channel serves only its own user")
            return
        try:
            request = wire.recv_request(client)
        except wire.ChannelProtocolError as e:
            wire.send_error(client, "bad_request", str(e))
            return
        try:
            payload = self._run(request)
        except _BadRequest as e:
            wire.send_error(client, "bad_request", str(e))
        except WriteRefusedError as e:
            wire.send_error(client, "refused", str(e))
        except QueryError as e:
            wire.send_error(client, "bad_input", str(e))
        except duckdb.InterruptException:
            reason = (
                "the holder is closing its admin channel"
                if self._stopping.is_set()
                else f"it ran past {self.statement_timeout:g} s (the admin channel's limit)"
            )
            wire.send_error(client, "failed", f"interrupted: {reason}")
        except duckdb.Error as e:
            if "read-only mode" in str(e):
                wire.send_error(client, "refused", f"the admin channel only reads: {e}")
            else:
                wire.send_error(client, "failed", str(e))
        except StoreError as e:
            wire.send_error(client, "failed", str(e))
        else:
            wire.send_response(client, wire.KIND_ARROW, payload)

    # -- executing -------------------------------------------------------
    def _run(self, request: dict[str, Any]) -> bytes:
        cur = self.store.cursor()
        with self._in_flight_lock:
            self._in_flight[threading.current_thread()] = cur
        watchdog = threading.Timer(self.statement_timeout, cur.interrupt)
        watchdog.daemon = True
        try:
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute("BEGIN TRANSACTION READ ONLY")
            watchdog.start()
            relation = self._relation(cur, request)
            return self._arrow_stream(relation)
        finally:
            watchdog.cancel()
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()

    def _relation(self, cur: duckdb.DuckDBPyConnection, request: dict[str, Any]):
        params = request.get("params")
        if "query" in request:
            name = request["query"]
            if not isinstance(name, str) or not (params is None or isinstance(params, dict)):
                raise _BadRequest("'query' must be a name and 'params' an object")
            if self._queries is None:
                self._queries = load_queries()
            query = find_query(self._queries, name)
            return cur.sql(query.sql, params=query.bind(cur, params or {}))
        sql = request.get("sql")
        if not isinstance(sql, str):
            raise _BadRequest("a request needs 'sql' (text) or 'query' (a name)")
        if params is not None and not isinstance(params, list | dict):
            raise _BadRequest("'params' must be a list or an object")
        statements = read_only_statements(cur, sql)
        if params and len(statements) > 1:
            raise _BadRequest("'params' need a single statement")
        for statement in statements[:-1]:
            cur.execute(statement)
            cur.complete()
        return cur.sql(statements[-1], params=params or None)

    def _arrow_stream(self, relation) -> bytes:
        if relation is None:
            return _ipc_bytes(pa.schema([]), [])
        batches: list[pa.RecordBatch] = []
        rows = 0
        truncated = False
        reader = relation.to_arrow_reader(64 * 1024)
        try:
            for batch in reader:
                if rows + batch.num_rows > self.row_limit:
                    batches.append(batch.slice(0, self.row_limit - rows))
                    truncated = True
                    break
                batches.append(batch)
                rows += batch.num_rows
            schema = reader.schema
        finally:
            reader.close()
        if truncated:
            schema = schema.with_metadata(
                {
                    **(schema.metadata or {}),
                    wire.TRUNCATED_KEY: b"true",
                    wire.ROW_LIMIT_KEY: str(self.row_limit).encode(),
                }
            )
        return _ipc_bytes(schema, batches)


def _ipc_bytes(schema: pa.Schema, batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _remove_stale_socket(path: Path) -> None:
    """Delete a socket file left by a dead process; refuse to touch anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StoreError(f"{path}: exists and is not a socket; move it away to serve the channel")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        with wire.unix_address(path) as address:
            probe.connect(address)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as e:
        raise StoreError(f"{path}: cannot tell whether the admin channel is live: {e}") from None
    else:
        peer = wire.peer_credentials(probe)
        holder = f" (PID {peer[0]})" if peer else ""
        raise StoreError(f"{path}: another process{holder} already serves this admin channel")
    finally:
        probe.close()
