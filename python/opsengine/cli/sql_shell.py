"""``opsengine sql``: an SQL shell over the store, interactive or fed a script.

Statements end with ``;`` and may span lines; lines starting with ``.`` are shell
commands (``.help`` lists them). An SQL error prints its message and the shell
goes on; the exit status is 1 when any statement failed. Interactive sessions keep
their history in ``~/.opsengine_sql_history``.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar, TextIO

import duckdb

from opsengine.cli.result_format import TEXT_FORMATS, render
from opsengine.store.db import StoreError
from opsengine.store.named_queries import NamedQuery, QueryError, load_queries
from opsengine.store.sql_access import SqlAccess, SqlResult
from opsengine.store.sql_gate import WriteRefusedError

HISTORY_FILE = Path("~/.opsengine_sql_history")
HISTORY_LENGTH = 2000
PROMPT, CONTINUATION_PROMPT = "sql> ", " ...> "

SQL_ERRORS = (duckdb.Error, StoreError, WriteRefusedError, QueryError)

_DOLLAR_QUOTE = re.compile(r"\$([A-Za-z_]\w*)?\$")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)

_SCHEMA_SQL = """
SELECT name, sql FROM (
    SELECT table_name AS name, sql FROM duckdb_tables()
    WHERE database_name = current_database() AND schema_name = 'main'
    UNION ALL
    SELECT view_name AS name, sql FROM duckdb_views()
    WHERE NOT internal AND database_name = current_database() AND schema_name = 'main'
)
"""

HELP = """\
.tables                 list tables and views
.schema [TABLE]         show CREATE statements (all, or one table)
.queries                list the named queries and their parameters
.run NAME [k=v …]       run a named query
.mode table|csv|json    how results are printed (now: {mode})
.timer on|off           print how long each statement took (now: {timer})
.help                   this text
.quit                   leave (also .exit or Ctrl-D)
End SQL statements with ';'. Opened: {via}.
"""


def split_statements(text: str) -> tuple[list[str], str]:
    """Complete ``;``-terminated statements in ``text`` and the unfinished rest.

    Semicolons inside quotes, ``$$`` strings and comments do not end a statement.
    """
    statements: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = _closing_quote(text, i)
            if end < 0:
                break
            i = end + 1
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                break
            i = close + 2
        elif ch == "$" and (m := _DOLLAR_QUOTE.match(text, i)):
            close = text.find(m.group(0), m.end())
            if close < 0:
                break
            i = close + len(m.group(0))
        elif ch == ";":
            statement = text[start : i + 1].strip()
            if not is_blank_sql(statement[:-1]):
                statements.append(statement)
            start = i = i + 1
        else:
            i += 1
    return statements, text[start:]


def _closing_quote(text: str, open_at: int) -> int:
    quote = text[open_at]
    j = open_at + 1
    while True:
        k = text.find(quote, j)
        if k < 0 or k + 1 >= len(text) or text[k + 1] != quote:
            return k
        j = k + 2  # a doubled quote is an escaped quote


def is_blank_sql(text: str) -> bool:
    return not _COMMENTS.sub("", text).strip()


class SqlShell:
    """Reads statements and dot commands, runs them through ``access``, prints the results."""

    def __init__(
        self,
        access: SqlAccess,
        *,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        queries: Callable[[], Mapping[str, NamedQuery]] = load_queries,
    ) -> None:
        self.access = access
        self.out = out
        self.err = err
        self._load_queries = queries
        self.mode = "table"
        self.timer = False
        self.pending = ""
        self.failures = 0
        self.finished = False

    # -- input -----------------------------------------------------------
    def feed_line(self, line: str) -> None:
        """One line of input: a dot command (between statements) or part of SQL."""
        if not self.pending.strip() and line.lstrip().startswith("."):
            self.run_dot_command(line.strip())
            return
        self.pending += line + "\n"
        statements, self.pending = split_statements(self.pending)
        for statement in statements:
            self.run_sql(statement)
            if self.finished:
                return

    def end_of_input(self) -> None:
        """Run what is left without a closing ``;``."""
        rest, self.pending = self.pending, ""
        if not is_blank_sql(rest):
            self.run_sql(rest)

    def run_script(self, lines: Iterable[str]) -> int:
        for line in lines:
            self.feed_line(line.rstrip("\r\n"))
            if self.finished:
                break
        else:
            self.end_of_input()
        return 1 if self.failures else 0

    def run_command(self, text: str) -> int:
        """``-c TEXT``: one dot command, or SQL (one or more statements)."""
        if text.lstrip().startswith("."):
            self.run_dot_command(text.strip())
            return 1 if self.failures else 0
        return self.run_script(text.splitlines())

    # -- SQL -------------------------------------------------------------
    def run_sql(self, sql: str) -> bool:
        started = time.perf_counter()
        try:
            result = self.access.execute(sql)
        except SQL_ERRORS as e:
            return self._failed(str(e))
        self.show(result)
        self._report_time(started)
        return True

    def show(self, result: SqlResult) -> None:
        if result.table.num_columns:
            self.out.write(render(result.table, self.mode))
            self.out.flush()
        if result.truncated:
            self.err.write(
                f"(result truncated at {result.row_limit:,} rows by the admin channel)\n"
            )

    def _failed(self, message: str) -> bool:
        self.failures += 1
        self.err.write(f"error: {message}\n")
        self.err.flush()
        return False

    def _report_time(self, started: float) -> None:
        if self.timer:
            self.out.write(f"Run Time: {time.perf_counter() - started:.3f} s\n")

    # -- dot commands ----------------------------------------------------
    def run_dot_command(self, line: str) -> None:
        try:
            words = shlex.split(line)
        except ValueError as e:
            self._failed(f"{line}: {e}")
            return
        command, args = words[0].lower(), words[1:]
        handler = self._DOT_COMMANDS.get(command)
        if handler is None:
            self._failed(f"unknown command {command}; .help lists the commands")
            return
        handler(self, args)

    def _dot_tables(self, args: list[str]) -> None:
        try:
            result = self.access.execute(_SCHEMA_SQL + " ORDER BY name")
        except SQL_ERRORS as e:
            self._failed(str(e))
            return
        for name in result.table.column("name").to_pylist():
            self.out.write(f"{name}\n")

    def _dot_schema(self, args: list[str]) -> None:
        try:
            if args:
                result = self.access.execute(
                    f"SELECT sql FROM ({_SCHEMA_SQL}) WHERE name = $name", {"name": args[0]}
                )
            else:
                result = self.access.execute(f"SELECT sql FROM ({_SCHEMA_SQL}) ORDER BY name")
        except SQL_ERRORS as e:
            self._failed(str(e))
            return
        texts = result.table.column("sql").to_pylist()
        if args and not texts:
            self._failed(f".schema: no table or view named {args[0]!r}; .tables lists them")
            return
        for text in texts:
            self.out.write(text.rstrip().rstrip(";") + ";\n")

    def _dot_queries(self, args: list[str]) -> None:
        try:
            queries = self._load_queries()
        except QueryError as e:
            self._failed(str(e))
            return
        self.out.write(describe_queries(queries))

    def _dot_run(self, args: list[str]) -> None:
        if not args:
            self._failed(".run needs a query name: .run NAME [param=value …]")
            return
        try:
            params = parse_param_assignments(args[1:], place=".run")
            started = time.perf_counter()
            result = self.access.run_named(args[0], params, self._load_queries())
        except SQL_ERRORS as e:
            self._failed(str(e))
            return
        self.show(result)
        self._report_time(started)

    def _dot_mode(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in TEXT_FORMATS:
            self._failed(f".mode takes one of {', '.join(TEXT_FORMATS)}")
            return
        self.mode = args[0]

    def _dot_timer(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ("on", "off"):
            self._failed(".timer takes on or off")
            return
        self.timer = args[0] == "on"

    def _dot_help(self, args: list[str]) -> None:
        self.out.write(
            HELP.format(mode=self.mode, timer="on" if self.timer else "off", via=self.access.via)
        )

    def _dot_quit(self, args: list[str]) -> None:
        self.finished = True

    _DOT_COMMANDS: ClassVar[dict[str, Callable[[SqlShell, list[str]], None]]] = {
        ".tables": _dot_tables,
        ".schema": _dot_schema,
        ".queries": _dot_queries,
        ".run": _dot_run,
        ".mode": _dot_mode,
        ".timer": _dot_timer,
        ".help": _dot_help,
        ".quit": _dot_quit,
        ".exit": _dot_quit,
    }


def parse_param_assignments(items: Iterable[str], *, place: str) -> dict[str, str]:
    """``name=value`` words as a dict; a malformed or repeated name raises QueryError."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise QueryError(f"{place} {item!r}: expected NAME=VALUE")
        if name in params:
            raise QueryError(f"{place} {name!r} is given twice")
        params[name] = value
    return params


def describe_queries(queries: Mapping[str, NamedQuery]) -> str:
    """The named queries with their descriptions and parameters, for people."""
    lines = []
    for query in queries.values():
        lines.append(f"{query.name}  {query.description}")
        lines.extend(f"    {p.describe()}" for p in query.params)
    return "\n".join(lines) + "\n" if lines else "(no named queries)\n"


def interact(shell: SqlShell, history_file: Path = HISTORY_FILE) -> int:
    """The interactive loop: readline editing and history, Ctrl-C clears, Ctrl-D leaves.

    Errors were shown as they happened, so leaving is a success (exit 0).
    """
    history = history_file.expanduser()
    readline = _readline_with_history(history)
    shell.err.write(f"opsengine sql on {shell.access.via}; end statements with ';', .help\n")
    try:
        while not shell.finished:
            try:
                line = input(CONTINUATION_PROMPT if shell.pending.strip() else PROMPT)
            except EOFError:
                shell.out.write("\n")
                shell.end_of_input()
                break
            except KeyboardInterrupt:
                shell.out.write("^C\n")
                shell.pending = ""
                continue
            try:
                shell.feed_line(line)
            except KeyboardInterrupt:  # Ctrl-C during a statement stops it, not the shell
                shell.err.write("interrupted\n")
                shell.pending = ""
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError as e:
                shell.err.write(f"warning: {history}: history not saved: {e.strerror or e}\n")
    return 0


def _readline_with_history(history: Path):
    try:
        import readline
    except ImportError:  # not every Python build has it; the shell works without
        return None
    readline.set_history_length(HISTORY_LENGTH)
    with contextlib.suppress(OSError):  # no history yet, or unreadable: start afresh
        readline.read_history_file(history)
    return readline
