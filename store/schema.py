"""The store's tables (SQLAlchemy Core) and the migrations that bring any older database up to STORE_SCHEMA."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    TEXT,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    cast,
    func,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from store.records import parity_row_v4

STORE_SCHEMA = 5
"""v1 → v2: runs gained config_key (the nightly history key) and the parity table was added. v2 → v3: the
acceptances table (a nightly baseline accepted from a run on, by whom, when and why). v3 → v4: parity checks keep
their configuration (config) and every parity row its git_sha, precision, and per side its mode and device (older
rows: fp32, cpu, mode None = the backend's default mode, the only thing parity checked then). v4 → v5: every cell row
has an attempt, unique per (run_id, cell_key, attempt), so a repeated write of one attempt replaces its row (older
rows: attempt 'legacy-<id>', each its own)."""
MIGRATION_LOCK_KEY = 0x62656E6368  # "bench": the PostgreSQL advisory lock held while one process migrates

SORTED_TEXT = Text().with_variant(TEXT(collation="C"), "postgresql")
"""Text compared byte by byte on both dialects (run ids and timestamps sort the same in SQLite and PostgreSQL)."""

metadata = MetaData()
meta = Table("meta", metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
runs = Table(
    "runs", metadata,
    Column("run_id", SORTED_TEXT, primary_key=True), Column("suite", Text, nullable=False),
    Column("started_at", SORTED_TEXT, nullable=False), Column("finished_at", Text), Column("machine_key", Text),
    Column("config", Text, nullable=False), Column("provenance", Text, nullable=False), Column("config_key", Text))
cells = Table(
    "cells", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", SORTED_TEXT, ForeignKey("runs.run_id"), nullable=False), Column("cell_key", Text, nullable=False),
    Column("workload", Text, nullable=False), Column("backend", Text, nullable=False),
    Column("mode", Text, nullable=False), Column("precision", Text, nullable=False),
    Column("status", Text, nullable=False), Column("record_schema", Integer, nullable=False),
    Column("record", Text, nullable=False), Column("stored_at", Text, nullable=False),
    Column("attempt", Text, nullable=False, server_default="1"),
    Index("cells_run", "run_id"),
    sqlite_autoincrement=True)
cells_attempt = Index("cells_attempt", cells.c.run_id, cells.c.cell_key, cells.c.attempt, unique=True)
parity = Table(
    "parity", metadata,
    Column("id", Integer, primary_key=True), Column("checked_at", Text, nullable=False), Column("git_sha", Text),
    Column("rows", Text, nullable=False), Column("config", Text),
    sqlite_autoincrement=True)
acceptances = Table(
    "acceptances", metadata,
    Column("id", Integer, primary_key=True), Column("cell_key", Text, nullable=False),
    Column("run_id", SORTED_TEXT, ForeignKey("runs.run_id"), nullable=False),
    Column("accepted_by", Text, nullable=False), Column("accepted_at", Text, nullable=False),
    Column("reason", Text, nullable=False),
    sqlite_autoincrement=True)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str], replace: Sequence[str]) -> None:
    """Insert a row, or, when one with the same `keys` exists, set its `replace` columns to the new values."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(**values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys),
                                                 set_={c: statement.excluded[c] for c in replace}))


def stored_version(conn: Connection) -> int | None:
    """The schema version a database says it has; None for an empty one."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version"))
    return int(value) if value is not None else None


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _upgrade_parity_rows(conn: Connection) -> None:
    """v3 → v4: every stored parity row gains its git_sha, precision, modes and devices."""
    for check_id, git_sha, rows in conn.execute(select(parity.c.id, parity.c.git_sha, parity.c.rows)).all():
        upgraded = [parity_row_v4(r, git_sha) for r in json.loads(rows)]
        conn.execute(update(parity).where(parity.c.id == check_id).values(rows=json.dumps(upgraded)))


def migrate(conn: Connection, where: str) -> None:
    """Create or upgrade the schema inside the caller's write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
    advisory lock taken here), so processes opening one database at once migrate it once. ValueError for a schema
    newer than this code."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
    version = stored_version(conn)
    if version is not None and version > STORE_SCHEMA:
        raise ValueError(f"{where} has store schema {version}, newer than this code ({STORE_SCHEMA})")
    if version == STORE_SCHEMA:
        return
    metadata.create_all(conn)  # the tables an older (or empty) database lacks, each with its indexes
    if "config_key" not in _columns(conn, "runs"):  # v1 databases
        conn.execute(text("ALTER TABLE runs ADD COLUMN config_key TEXT"))
    if "config" not in _columns(conn, "parity"):  # v2, v3 databases
        conn.execute(text("ALTER TABLE parity ADD COLUMN config TEXT"))
    if version is not None and version < 4:
        _upgrade_parity_rows(conn)
    if "attempt" not in _columns(conn, "cells"):  # v1..v4 databases: every old row its own attempt
        conn.execute(text("ALTER TABLE cells ADD COLUMN attempt TEXT NOT NULL DEFAULT '1'"))
        conn.execute(update(cells).values(attempt=literal("legacy-") + cast(cells.c.id, Text)))
    cells_attempt.create(conn, checkfirst=True)
    upsert(conn, meta, {"key": "schema_version", "value": str(STORE_SCHEMA)}, ["key"], ["value"])
