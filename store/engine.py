"""Where a results database lives (a file path or a URL) and the SQLAlchemy engine that opens it.

SQLite: WAL, a 60 s busy timeout, and pysqlite's own transaction handling turned off so that SQLAlchemy's begin
emits BEGIN (reads) or BEGIN IMMEDIATE (writes: the write lock is taken up front, never upgraded mid-transaction).
PostgreSQL: psycopg 3, with a connect timeout unless the URL sets one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from common.machine import REPO
from suites.errors import UsageError

DB_ENV = "BENCH_DB"
DEFAULT_DB = REPO / "results" / "bench.sqlite"
SQLITE_BUSY_TIMEOUT_S = 60
WAL_RETRY_S = 0.01
PG_CONNECT_TIMEOUT_S = 10
WRITE_OPTION = "store_write"
"""Execution option of the write engine: its transactions start with BEGIN IMMEDIATE on SQLite."""
POSTGRES_EXTRA = "install the [postgres] extra: pip install -c constraints.txt -e '.[postgres]'"
URL_FORMS = "a file path, sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB"


def default_db_path() -> Path:
    """$BENCH_DB, else results/bench.sqlite in the repository (as a path; see default_target for URLs)."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def default_target() -> str:
    """$BENCH_DB (a path or a URL), else results/bench.sqlite in the repository."""
    return os.environ.get(DB_ENV) or str(DEFAULT_DB)


@dataclass(frozen=True)
class Target:
    """A parsed database target: its URL, its file (SQLite) or None (a server), and how to show it."""

    url: URL
    path: Path | None
    where: str

    @property
    def report_dir(self) -> Path:
        """The folder default reports go to: the SQLite file's folder, else results/ in the repository."""
        return self.path.parent if self.path is not None else REPO / "results"


def is_url(text: str) -> bool:
    """Whether `text` is a database URL (has a scheme) rather than a file path."""
    return "://" in text


def parse_target(target: Path | str | None) -> Target:
    """The Target of a path, a URL or None ($BENCH_DB, else the default file); UsageError for one this store
    cannot use."""
    text = default_target() if target is None or str(target) == "" else target
    if isinstance(text, Path) or not is_url(text):
        path = Path(text)
        return Target(URL.create("sqlite", database=str(path)), path, str(path))
    try:
        url = make_url(text)
    except ArgumentError:
        raise UsageError(f"database URL {text!r} is malformed; give {URL_FORMS}") from None
    where = url.render_as_string(hide_password=True)
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not url.database or url.database == ":memory:":
            raise UsageError(f"database {where!r} is in memory and would keep nothing; give sqlite:///FILE")
        path = Path(url.database)
        return Target(url.set(drivername="sqlite"), path, str(path))
    if backend == "postgresql" and driver in ("", "psycopg"):
        if not url.database:
            raise UsageError(f"database URL {where!r} names no database; give {URL_FORMS}")
        return Target(url.set(drivername="postgresql+psycopg"), None, where)
    raise UsageError(f"database URL {where!r}: dialect {url.drivername!r} is not supported; give {URL_FORMS}")


def _set_wal(cursor: Any) -> None:
    """Put the database in WAL mode. Connections switching a new file at once can get 'database is locked' at once
    (SQLite skips the busy handler where waiting could deadlock), so that is retried until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_S)


def _sqlite_engine(url: URL) -> Engine:
    """A SQLite engine: WAL and busy timeout on every connection, BEGIN IMMEDIATE for writes."""
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN/COMMIT of its own; SQLAlchemy's begin does
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            _set_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(target: Target) -> Engine:
    """The engine of a target (connects lazily); UsageError when its driver is not installed."""
    if target.url.get_backend_name() == "sqlite":
        return _sqlite_engine(target.url)
    connect_args = {} if "connect_timeout" in target.url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        return create_engine(target.url, connect_args=connect_args, pool_pre_ping=True)
    except ImportError:
        raise UsageError(f"database {target.where!r} needs psycopg, which is not installed; {POSTGRES_EXTRA}") from None
