"""The workspace's DuckDB file: short-lived connections that take turns between processes, transactions, the schema."""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import pyarrow as pa

from eqn_core.store.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, utc_now

DB_FILENAME = "eqn.duckdb"


class WorkspaceBusyError(RuntimeError):
    """Another process kept the workspace database for longer than we wait (DuckDB allows one writer per file)."""


class WorkspaceDamagedError(RuntimeError):
    """The workspace database file cannot be read: truncated, overwritten or not a DuckDB file."""


# The lock wait: another process (the app, a CLI command) holds eqn.duckdb only for one operation at a time,
# so we retry for up to LOCK_WAIT_SECONDS (EQN_LOCK_WAIT overrides) before giving up with WorkspaceBusyError.
LOCK_WAIT_SECONDS = 60.0
# One lock per database file in this process: connections to one file never overlap, so threads (Streamlit
# sessions) and several Workspace objects over the same folder take turns instead of clashing.
# A connection stays open this long after the last call, so the calls of one page run share it; then it closes.
LINGER_SECONDS = 0.25
# A process that keeps calling closes its connection once it is this old and pauses COURTESY_SECONDS before
# opening again, so a waiting process (retrying every few ms) gets its turn: nobody is starved.
MAX_HOLD_SECONDS = 1.0
COURTESY_SECONDS = 0.05
_FILE_LOCKS: dict[Path, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()

DatabaseT = TypeVar("DatabaseT", bound="Database")


def _file_lock(db_path: Path) -> threading.RLock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(db_path, threading.RLock())


class Database:
    """One DuckDB file, opened only for bursts of work.

    A call opens the database (a few milliseconds), and the connection closes LINGER_SECONDS after the last call,
    so the app and any number of CLI commands can use one file side by side. While another process is in the
    middle of its work, opening waits and retries (up to LOCK_WAIT_SECONDS). Calls are serialised per database
    file, so one instance may be shared between threads (Streamlit sessions). Opening the file does not create
    the tables: call ensure_schema() once, inside connection(), as the Workspace does.
    """

    def __init__(self, db_path: Path, *, read_only: bool = False, lock_wait: float | None = None):
        self.db_path = db_path
        self.read_only = read_only
        self.lock_wait = float(os.environ.get("EQN_LOCK_WAIT", LOCK_WAIT_SECONDS)) if lock_wait is None else lock_wait
        self._lock = _file_lock(db_path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0  # nested connection() calls in progress
        self._last_used = 0.0
        self._opened_at = 0.0
        self._reopen_after = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    # ---------------------------------------------------------------- life cycle
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the connection now (it closes by itself LINGER_SECONDS after the last call); the database then
        refuses further use."""
        with self._lock:
            self._closed = True
            self._release()

    def __enter__(self: DatabaseT) -> DatabaseT:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection for this thread: the one already open (nested and quick successive calls share it),
        else a new one. It is closed LINGER_SECONDS after the last call, which lets other processes in."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"The workspace {self.db_path.parent} is closed.")
            if self._con is None:
                pause = self._reopen_after - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self._con = _connect(self.db_path, read_only=self.read_only, lock_wait=self.lock_wait)
                self._opened_at = time.monotonic()
            self._depth += 1
            try:
                yield self._con
            except duckdb.Error as error:
                if _looks_damaged(error):
                    raise _damaged(self.db_path, error) from error
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._last_used = time.monotonic()
                    if self._last_used - self._opened_at >= MAX_HOLD_SECONDS:
                        self._release()
                        self._reopen_after = time.monotonic() + COURTESY_SECONDS
                    else:
                        self._schedule_release()

    def _schedule_release(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(LINGER_SECONDS, self._release_when_idle)
            self._timer.daemon = True
            self._timer.start()

    def _release_when_idle(self) -> None:
        with self._lock:
            self._timer = None
            if self._con is None or self._depth:
                return
            idle = time.monotonic() - self._last_used
            if idle >= LINGER_SECONDS:
                self._release()
            else:
                self._timer = threading.Timer(LINGER_SECONDS - idle, self._release_when_idle)
                self._timer.daemon = True
                self._timer.start()

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._con is not None and not self._depth:
            con, self._con = self._con, None
            con.close()

    # the connection, held for this thread (for read queries of eqn_core.export)
    locked_connection = connection

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT; ROLLBACK on any error (commit included), so nothing is half-written."""
        with self.connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # the failed COMMIT may already have rolled back
                raise

    # ---------------------------------------------------------------- schema
    def ensure_schema(self) -> None:
        """Create the tables of eqn_core.store.schema in an empty file, or upgrade an older schema (after copying the
        file to backup_path); refuse a DuckDB file that is not a workspace, or one newer than this code."""
        try:
            tables = {row[0] for row in self.fetch_all("SELECT table_name FROM duckdb_tables()")}
        except duckdb.Error as error:
            raise _damaged(self.db_path, error) from error
        if "schema_version" not in tables:
            if tables:
                raise RuntimeError(f"{self.db_path} is a DuckDB file but not an EQN Studio workspace "
                                   f"(it has tables {sorted(tables)} and no schema_version).")
            if self.read_only:
                raise RuntimeError(f"{self.db_path} is empty; open it once without read_only to create it.")
            with self.transaction() as con:
                for statement in SCHEMA:
                    con.execute(statement)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, utc_now()])
            return
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.db_path} has schema version {version}, newer than this EQN Studio "
                               f"understands ({SCHEMA_VERSION}); update EQN Studio.")
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise RuntimeError(f"{self.db_path} has schema version {version} and needs an upgrade to "
                                   f"{SCHEMA_VERSION}; open it once without read_only.")
            with self.connection() as con:
                con.execute("CHECKPOINT")
                shutil.copy2(self.db_path, backup_path(self.db_path, version))  # kept: the file before the upgrade
                with self.transaction() as con:
                    for next_version in range(version + 1, SCHEMA_VERSION + 1):
                        for statement in MIGRATIONS[next_version]:
                            con.execute(statement)
                        con.execute("INSERT INTO schema_version VALUES (?, ?)", [next_version, utc_now()])

    def schema_version(self) -> int:
        return int(self.fetch_all("SELECT max(version) FROM schema_version")[0][0])

    # ---------------------------------------------------------------- queries (values always as ? parameters)
    def fetch_all(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.connection() as con:
            return con.execute(sql, params or []).fetchall()

    def fetch_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connection() as con:
            return con.execute(sql, params or []).df()

    def fetch_arrow(self, sql: str, params: list | None = None) -> pa.Table:
        with self.connection() as con:
            relation = con.sql(sql, params=params or [])
            to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return to_table()

    def insert_arrow(self, con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
        """Bulk insert (one vectorised INSERT ... SELECT) inside the caller's transaction; table and columns are
        ours, never user text."""
        columns = ", ".join(rows.column_names)
        view = "eqn_insert_source"
        con.register(view, rows)
        try:
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view}")
        finally:
            con.unregister(view)


# -------------------------------------------------------------------- opening the file
def backup_path(db_path: Path, version: int) -> Path:
    """Where the database is copied before an upgrade from schema version `version`."""
    return db_path.with_name(f"{db_path.name}.v{version}.bak")


def _is_lock_error(error: duckdb.Error) -> bool:
    message = str(error).lower()
    return "lock" in message and ("could not set" in message or "conflicting" in message)


_DAMAGE_SIGNS = ("could not read enough bytes", "corrupt", "checksum", "not a valid duckdb database",
                 "invalid database", "failed to read database header", "serialization error")


def _looks_damaged(error: duckdb.Error) -> bool:
    """A read error of the database file itself (not of a file named in a query, such as an export target)."""
    message = str(error).lower()
    return isinstance(error, (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException)) and \
        any(sign in message for sign in _DAMAGE_SIGNS)


def _damaged(db_path: Path, error: BaseException) -> WorkspaceDamagedError:
    backups = sorted(db_path.parent.glob(f"{db_path.name}.*.bak"))
    restore = (f"restore the backup {backups[-1]} (copy it over {db_path.name})" if backups
               else "restore it from your own backup")
    return WorkspaceDamagedError(
        f"The workspace database {db_path} is damaged and cannot be opened ({type(error).__name__}: "
        f"{str(error).splitlines()[0][:200]}). Close EQN Studio, then {restore}; or move {db_path.name} aside and "
        "open the folder again to start an empty workspace (run folders under runs/ keep the trained weights "
        "and energies).")


def _connect(db_path: Path, *, read_only: bool, lock_wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting (with growing pauses) while another process holds it."""
    deadline = time.monotonic() + max(0.0, lock_wait)
    pause = 0.005
    while True:
        try:
            return duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.Error as error:
            if "permission denied" in str(error).lower():
                raise PermissionError(f"Cannot open the workspace database {db_path}: {error}") from error
            if not _is_lock_error(error):
                raise _damaged(db_path, error) from error
            if time.monotonic() >= deadline:
                pid = re.search(r"PID (\d+)", str(error))
                holder = f" (process id {pid.group(1)})" if pid else ""
                raise WorkspaceBusyError(
                    f"The workspace database {db_path} stayed busy for {lock_wait:.0f} s: another EQN Studio "
                    f"process{holder} is in the middle of a long operation. Try again when it is done.") from error
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


def quote_identifier(name: str) -> str:
    """A SQL identifier (a column or view name from a file or a label), quoted for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def unquote_identifier(quoted: str) -> str:
    return quoted[1:-1].replace('""', '"')


def sql_string(value: str) -> str:
    """A SQL string literal, only where DuckDB takes no parameter (CREATE VIEW, COPY ... TO): the value was checked
    first (no NUL, no newline) and DuckDB strings have no backslash escapes, so doubling ' is enough."""
    return "'" + value.replace("'", "''") + "'"
