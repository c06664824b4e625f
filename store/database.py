"""The results database: SQLite (WAL), schema-versioned, one row per run and per finished cell."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.clock import now_iso
from common.machine import REPO
from suites.errors import UsageError

DB_ENV = "BENCH_DB"
DEFAULT_DB = REPO / "results" / "bench.sqlite"
STORE_SCHEMA = 4
"""v1 → v2: runs gained config_key (the nightly history key) and the parity table was added. v2 → v3: the
acceptances table (a nightly baseline accepted from a run on, by whom, when and why). v3 → v4: parity checks keep
their configuration (config) and every parity row its git_sha, precision, and per side its mode and device (older
rows: fp32, cpu, mode None = the backend's default mode, the only thing parity checked then)."""
RECORD_SCHEMA = 2
"""v1 → v2: an NVIDIA GPU is device "cuda" in every backend (TensorFlow and JAX v1 records said "gpu")."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    machine_key TEXT, config TEXT NOT NULL, provenance TEXT NOT NULL, config_key TEXT);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    cell_key TEXT NOT NULL, workload TEXT NOT NULL, backend TEXT NOT NULL, mode TEXT NOT NULL,
    precision TEXT NOT NULL, status TEXT NOT NULL, record_schema INTEGER NOT NULL, record TEXT NOT NULL,
    stored_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cells_run ON cells(run_id);
CREATE TABLE IF NOT EXISTS parity (
    id INTEGER PRIMARY KEY AUTOINCREMENT, checked_at TEXT NOT NULL, git_sha TEXT, rows TEXT NOT NULL, config TEXT);
CREATE TABLE IF NOT EXISTS acceptances (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cell_key TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs(run_id),
    accepted_by TEXT NOT NULL, accepted_at TEXT NOT NULL, reason TEXT NOT NULL);
"""


def default_db_path() -> Path:
    """$BENCH_DB, else results/bench.sqlite in the repository."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def upgrade_record(record: dict[str, Any], schema: int) -> dict[str, Any]:
    """A stored record brought up to RECORD_SCHEMA (newer ones are refused)."""
    if schema > RECORD_SCHEMA:
        raise ValueError(f"record schema {schema} is newer than this code ({RECORD_SCHEMA}): update the suite")
    device_info = record.get("device_info")
    if schema < 2 and isinstance(device_info, dict) and device_info.get("device") == "gpu":
        record = {**record, "device_info": {**device_info, "device": "cuda"}}
    return {**record, "schema_version": RECORD_SCHEMA} if schema < RECORD_SCHEMA else record


def parity_row_v4(row: dict[str, Any], git_sha: str | None) -> dict[str, Any]:
    """A parity row with its configuration: a pre-v4 row was fp32 on CPU in each backend's default mode (None)."""
    cpu = {k: "cpu" for k in ("a", "b") if row.get(k) and not str(row[k]).endswith("-reference")}
    defaults = {"git_sha": git_sha, "precision": "fp32", "mode_a": None, "mode_b": None,
                "device_a": cpu.get("a"), "device_b": cpu.get("b")}
    return {**defaults, **row}


def _upgrade_parity_rows(c: sqlite3.Connection) -> None:
    """v3 → v4: every stored parity row gains its git_sha, precision, modes and devices."""
    for check_id, git_sha, text in c.execute("SELECT id, git_sha, rows FROM parity").fetchall():
        rows = [parity_row_v4(r, git_sha) for r in json.loads(text)]
        c.execute("UPDATE parity SET rows=? WHERE id=?", (json.dumps(rows), check_id))


class Store:
    """A results database; every write commits at once, so a killed runner loses at most the cell in flight."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_db_path()
        if self.path.is_dir():
            raise UsageError(f"database {str(self.path)!r} is a folder; pass a file path, "
                             f"e.g. --db {self.path / 'bench.sqlite'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA busy_timeout=60000")
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UsageError(f"cannot open {str(self.path)!r} as a results database ({exc}); "
                             "pass another --db or $BENCH_DB") from None

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as c:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                c.execute(statement)
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else STORE_SCHEMA
            if version > STORE_SCHEMA:
                raise ValueError(f"{self.path} has store schema {version}, newer than this code ({STORE_SCHEMA})")
            columns = {r[1] for r in c.execute("PRAGMA table_info(runs)")}
            if "config_key" not in columns:  # v1 databases
                c.execute("ALTER TABLE runs ADD COLUMN config_key TEXT")
            if "config" not in {r[1] for r in c.execute("PRAGMA table_info(parity)")}:  # v2, v3 databases
                c.execute("ALTER TABLE parity ADD COLUMN config TEXT")
            if version < 4:
                _upgrade_parity_rows(c)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(STORE_SCHEMA),))

    def create_run(self, suite: str, config: dict[str, Any], provenance: dict[str, Any],
                   config_key: str | None = None) -> str:
        """A new run id (UTC time + random suffix), stored with its configuration and provenance."""
        started = now_iso()
        run_id = dt.datetime.fromisoformat(started).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        with self._tx() as c:
            c.execute("INSERT INTO runs (run_id, suite, started_at, finished_at, machine_key, config, provenance, "
                      "config_key) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
                      (run_id, suite, started, provenance.get("machine_key"),
                       json.dumps(config), json.dumps(provenance), config_key))
        return run_id

    def finish_run(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET finished_at=? WHERE run_id=?",
                      (now_iso(), run_id))

    def add_record(self, run_id: str, record: dict[str, Any]) -> None:
        """Store one cell's record (committed immediately)."""
        cell = record["cell"]
        with self._tx() as c:
            c.execute("INSERT INTO cells (run_id, cell_key, workload, backend, mode, precision, status, "
                      "record_schema, record, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (run_id, record["key"], cell["workload"], cell["backend"], cell["mode"], cell["precision"],
                       record["status"], record.get("schema_version", RECORD_SCHEMA), json.dumps(record, default=str),
                       now_iso()))

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT run_id, suite, started_at, finished_at, machine_key, config, provenance, "
                                "config_key FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        return {"run_id": row[0], "suite": row[1], "started_at": row[2], "finished_at": row[3],
                "machine_key": row[4], "config": json.loads(row[5]), "provenance": json.loads(row[6]),
                "config_key": row[7]}

    def history(self, machine_key: str, config_key: str, before: str | None = None) -> list[str]:
        """Finished run ids with this machine and configuration key, oldest first (only those before `before`)."""
        rows = self.conn.execute("SELECT run_id FROM runs WHERE machine_key=? AND config_key=? AND finished_at "
                                 "IS NOT NULL ORDER BY started_at, run_id", (machine_key, config_key)).fetchall()
        ids = [r[0] for r in rows]
        return ids[: ids.index(before)] if before in ids else ids

    def comparable_runs(self, run_id: str, limit: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Up to `limit` finished runs before `run_id` with its machine and configuration key, oldest first, each
        as (run info, records); [] for a run without a configuration key."""
        info = self.run(run_id)
        if not info or not info.get("config_key"):
            return []
        ids = self.history(info["machine_key"], info["config_key"], before=run_id)[-limit:] if limit else []
        return [(self.run(rid) or {}, self.records(rid)) for rid in ids]

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first, with its cell counts by status."""
        out = []
        for (run_id,) in self.conn.execute("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC"):
            info = self.run(run_id)
            assert info is not None
            counts = dict(self.conn.execute("SELECT status, COUNT(*) FROM cells WHERE run_id=? GROUP BY status",
                                            (run_id,)).fetchall())
            out.append({**info, "cells": counts})
        return out

    def latest_run_id(self) -> str | None:
        row = self.conn.execute("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def records(self, run_id: str) -> list[dict[str, Any]]:
        """The run's cell records in the order they finished (the latest record per cell key)."""
        rows = self.conn.execute("SELECT cell_key, record_schema, record FROM cells WHERE run_id=? ORDER BY id",
                                 (run_id,)).fetchall()
        latest: dict[str, dict[str, Any]] = {}
        for key, schema, text in rows:
            latest.pop(key, None)
            latest[key] = upgrade_record(json.loads(text), schema)
        return list(latest.values())

    def add_parity(self, rows: list[dict[str, Any]], git_sha: str | None,
                   config: dict[str, Any] | None = None) -> None:
        """Store the rows of one `run_bench.py parity` check, each row with its git SHA and configuration."""
        with self._tx() as c:
            c.execute("INSERT INTO parity (checked_at, git_sha, rows, config) VALUES (?, ?, ?, ?)",
                      (now_iso(), git_sha, json.dumps([parity_row_v4(r, git_sha) for r in rows]),
                       json.dumps(config or {})))

    def latest_parity(self) -> dict[str, Any] | None:
        """The newest parity check {'checked_at', 'git_sha', 'config', 'rows'}, plus 'all_rows': the newest row of
        every (workload, pair, modes, devices, precision, git SHA) over all checks, each with its checked_at; or
        None."""
        checks = self.conn.execute("SELECT checked_at, git_sha, rows, config FROM parity ORDER BY id DESC").fetchall()
        if not checks:
            return None
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for checked_at, git_sha, text, _ in checks:
            for row in json.loads(text):
                row = {**parity_row_v4(row, git_sha), "checked_at": checked_at}
                key = tuple(str(row.get(k)) for k in ("workload", "a", "mode_a", "device_a", "b", "mode_b",
                                                       "device_b", "precision", "git_sha"))
                seen.setdefault(key, row)
        checked_at, git_sha, text, config = checks[0]
        return {"checked_at": checked_at, "git_sha": git_sha, "rows": json.loads(text),
                "config": json.loads(config or "{}"), "all_rows": list(seen.values())}

    def add_acceptance(self, cell_key: str, run_id: str, accepted_by: str, reason: str) -> None:
        """Record that `cell_key` ('*': every cell) has a new nightly baseline from `run_id` on."""
        with self._tx() as c:
            c.execute("INSERT INTO acceptances (cell_key, run_id, accepted_by, accepted_at, reason) "
                      "VALUES (?, ?, ?, ?, ?)", (cell_key, run_id, accepted_by, now_iso(), reason))

    def acceptances(self) -> list[dict[str, Any]]:
        """Every acceptance, oldest first: {cell_key, run_id, accepted_by, accepted_at, reason}."""
        rows = self.conn.execute("SELECT cell_key, run_id, accepted_by, accepted_at, reason FROM acceptances "
                                 "ORDER BY id").fetchall()
        return [dict(zip(("cell_key", "run_id", "accepted_by", "accepted_at", "reason"), r, strict=True))
                for r in rows]

    def latest_keyed_run(self) -> str | None:
        """The newest finished run with a configuration key (a nightly run), or None."""
        row = self.conn.execute("SELECT run_id FROM runs WHERE config_key IS NOT NULL AND finished_at IS NOT NULL "
                                "ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def done_keys(self, run_id: str) -> set[str]:
        """Cell keys that already have a record in the run."""
        return {r[0] for r in self.conn.execute("SELECT cell_key FROM cells WHERE run_id=?", (run_id,))}


def resolve_run(store: Store, run: str | None) -> str:
    """A run id from 'latest', an id or None; UsageError when the database has no such run."""
    run_id = store.latest_run_id() if run in (None, "latest") else run
    if run_id is None or store.run(run_id) is None:
        raise UsageError(f"no run {run!r} in {store.path}; run `run_bench.py run` first or see `run_bench.py history`")
    return run_id
