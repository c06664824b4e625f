"""The results database: SQLite (WAL) or PostgreSQL through SQLAlchemy Core, schema-versioned, one row per run and
per stored cell attempt."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from common.clock import now_iso
from store.engine import DB_ENV, WRITE_OPTION, Target, default_db_path, make_engine, parse_target
from store.records import RECORD_SCHEMA, parity_row_v4, upgrade_record
from store.schema import STORE_SCHEMA, acceptances, cells, migrate, parity, runs, upsert
from suites.errors import UsageError

__all__ = ["DB_ENV", "RECORD_SCHEMA", "STORE_SCHEMA", "Store", "default_db_path", "resolve_run", "upgrade_record"]

RUN_COLUMNS = ("run_id", "suite", "started_at", "finished_at", "machine_key", "config", "provenance", "config_key")
ACCEPTANCE_COLUMNS = ("cell_key", "run_id", "accepted_by", "accepted_at", "reason")
NEWEST_FIRST = (runs.c.started_at.desc(), runs.c.run_id.desc())


def _first_line(exc: BaseException) -> str:
    """The driver's own message of a database error, first line only."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


class Store:
    """A results database; every write commits at once, so a killed runner loses at most the cell in flight.

    `target`: a file path (SQLite), a URL (sqlite:///FILE, postgresql+psycopg://USER@HOST:PORT/DB), or None for
    $BENCH_DB (a path or a URL), else results/bench.sqlite."""

    def __init__(self, target: Path | str | None = None) -> None:
        self._target: Target = parse_target(target)
        self.path: Path | None = self._target.path
        """The SQLite file, or None for a database server."""
        self.where: str = self._target.where
        """The database for messages: the file path, or the URL without its password."""
        if self.path is not None and self.path.is_dir():
            raise UsageError(f"database {str(self.path)!r} is a folder; pass a file path, "
                             f"e.g. --db {self.path / 'bench.sqlite'}")
        self.engine: Engine = make_engine(self._target)
        """The SQLAlchemy engine (public: tests and tools may run their own SQL through it)."""
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._tx() as c:
                migrate(c, self.where)
        except (DBAPIError, sqlite3.Error, OSError) as exc:
            self.engine.dispose()
            if self.path is not None:
                raise UsageError(f"cannot open {self.where!r} as a results database ({_first_line(exc)}); "
                                 f"pass another --db or ${DB_ENV}") from None
            if isinstance(exc, OperationalError):
                raise UsageError(f"cannot connect to {self.where!r} ({_first_line(exc)}); start the server or fix "
                                 f"the URL (user, host, port, database) in --db or ${DB_ENV}") from None
            raise UsageError(f"cannot use {self.where!r} as a results database ({_first_line(exc)}); "
                             f"pass another --db or ${DB_ENV}") from None
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def report_dir(self) -> Path:
        """The folder default reports go to (created if missing): the SQLite file's folder, else results/."""
        folder = self._target.report_dir
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE), committed when the block ends."""
        with self._writer.begin() as c:
            yield c

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read connection (SQLite: a deferred BEGIN, no write lock), rolled back when the block ends."""
        with self.engine.connect() as c:
            yield c

    def create_run(self, suite: str, config: dict[str, Any], provenance: dict[str, Any],
                   config_key: str | None = None) -> str:
        """A new run id (UTC time + random suffix), stored with its configuration and provenance."""
        started = now_iso()
        run_id = dt.datetime.fromisoformat(started).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        with self._tx() as c:
            c.execute(insert(runs).values(run_id=run_id, suite=suite, started_at=started, finished_at=None,
                                          machine_key=provenance.get("machine_key"), config=json.dumps(config),
                                          provenance=json.dumps(provenance), config_key=config_key))
        return run_id

    def finish_run(self, run_id: str) -> None:
        """Mark the run finished now."""
        with self._tx() as c:
            c.execute(update(runs).where(runs.c.run_id == run_id).values(finished_at=now_iso()))

    def add_record(self, run_id: str, record: dict[str, Any]) -> None:
        """Store one cell's record (committed immediately) as attempt record['attempt'] (default '1'); writing an
        attempt again replaces its row."""
        cell, attempt = record["cell"], record.get("attempt")
        values = {"run_id": run_id, "cell_key": record["key"], "attempt": "1" if attempt is None else str(attempt),
                  "workload": cell["workload"], "backend": cell["backend"], "mode": cell["mode"],
                  "precision": cell["precision"], "status": record["status"],
                  "record_schema": record.get("schema_version", RECORD_SCHEMA),
                  "record": json.dumps(record, default=str), "stored_at": now_iso()}
        with self._tx() as c:
            upsert(c, cells, values, ("run_id", "cell_key", "attempt"),
                   ("status", "record_schema", "record", "stored_at"))

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run's row {run_id, suite, started_at, finished_at, machine_key, config, provenance, config_key}."""
        with self._read() as c:
            row = c.execute(select(*(runs.c[k] for k in RUN_COLUMNS)).where(runs.c.run_id == run_id)).first()
        if row is None:
            return None
        info = dict(zip(RUN_COLUMNS, row, strict=True))
        return {**info, "config": json.loads(info["config"]), "provenance": json.loads(info["provenance"])}

    def history(self, machine_key: str, config_key: str, before: str | None = None) -> list[str]:
        """Finished run ids with this machine and configuration key, oldest first (only those before `before`)."""
        query = (select(runs.c.run_id)
                 .where(runs.c.machine_key == machine_key, runs.c.config_key == config_key,
                        runs.c.finished_at.is_not(None))
                 .order_by(runs.c.started_at, runs.c.run_id))
        with self._read() as c:
            ids = list(c.scalars(query))
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
        """Every run, newest first, with its cell counts by status (each cell's latest record, as records() reads)."""
        latest = select(func.max(cells.c.id)).group_by(cells.c.run_id, cells.c.cell_key)
        with self._read() as c:
            rows = c.execute(select(*(runs.c[k] for k in RUN_COLUMNS)).order_by(*NEWEST_FIRST)).all()
            counted = c.execute(select(cells.c.run_id, cells.c.status, func.count()).where(cells.c.id.in_(latest))
                                .group_by(cells.c.run_id, cells.c.status)).all()
        counts: dict[str, dict[str, int]] = {}
        for run_id, status, n in counted:
            counts.setdefault(run_id, {})[status] = n
        out = []
        for row in rows:
            info = dict(zip(RUN_COLUMNS, row, strict=True))
            out.append({**info, "config": json.loads(info["config"]), "provenance": json.loads(info["provenance"]),
                        "cells": counts.get(info["run_id"], {})})
        return out

    def latest_run_id(self) -> str | None:
        """The newest run's id, or None."""
        with self._read() as c:
            return c.scalar(select(runs.c.run_id).order_by(*NEWEST_FIRST).limit(1))

    def records(self, run_id: str) -> list[dict[str, Any]]:
        """The run's cell records in the order their rows were stored (the latest row per cell key)."""
        query = (select(cells.c.cell_key, cells.c.record_schema, cells.c.record)
                 .where(cells.c.run_id == run_id).order_by(cells.c.id))
        with self._read() as c:
            rows = c.execute(query).all()
        latest: dict[str, dict[str, Any]] = {}
        for key, schema, stored in rows:
            latest.pop(key, None)
            latest[key] = upgrade_record(json.loads(stored), schema)
        return list(latest.values())

    def add_parity(self, rows: list[dict[str, Any]], git_sha: str | None,
                   config: dict[str, Any] | None = None) -> None:
        """Store the rows of one `run_bench.py parity` check, each row with its git SHA and configuration."""
        with self._tx() as c:
            c.execute(insert(parity).values(checked_at=now_iso(), git_sha=git_sha,
                                            rows=json.dumps([parity_row_v4(r, git_sha) for r in rows]),
                                            config=json.dumps(config or {})))

    def latest_parity(self) -> dict[str, Any] | None:
        """The newest parity check {'checked_at', 'git_sha', 'config', 'rows'}, plus 'all_rows': the newest row of
        every (workload, pair, modes, devices, precision, git SHA) over all checks, each with its checked_at; or
        None."""
        with self._read() as c:
            checks = c.execute(select(parity.c.checked_at, parity.c.git_sha, parity.c.rows, parity.c.config)
                               .order_by(parity.c.id.desc())).all()
        if not checks:
            return None
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for checked_at, git_sha, stored, _ in checks:
            for row in json.loads(stored):
                row = {**parity_row_v4(row, git_sha), "checked_at": checked_at}
                key = tuple(str(row.get(k)) for k in ("workload", "a", "mode_a", "device_a", "b", "mode_b",
                                                       "device_b", "precision", "git_sha"))
                seen.setdefault(key, row)
        checked_at, git_sha, stored, config = checks[0]
        return {"checked_at": checked_at, "git_sha": git_sha, "rows": json.loads(stored),
                "config": json.loads(config or "{}"), "all_rows": list(seen.values())}

    def add_acceptance(self, cell_key: str, run_id: str, accepted_by: str, reason: str) -> None:
        """Record that `cell_key` ('*': every cell) has a new nightly baseline from `run_id` on."""
        with self._tx() as c:
            c.execute(insert(acceptances).values(cell_key=cell_key, run_id=run_id, accepted_by=accepted_by,
                                                 accepted_at=now_iso(), reason=reason))

    def acceptances(self) -> list[dict[str, Any]]:
        """Every acceptance, oldest first: {cell_key, run_id, accepted_by, accepted_at, reason}."""
        with self._read() as c:
            rows = c.execute(select(*(acceptances.c[k] for k in ACCEPTANCE_COLUMNS))
                             .order_by(acceptances.c.id)).all()
        return [dict(zip(ACCEPTANCE_COLUMNS, r, strict=True)) for r in rows]

    def latest_keyed_run(self) -> str | None:
        """The newest finished run with a configuration key (a nightly run), or None."""
        query = (select(runs.c.run_id).where(runs.c.config_key.is_not(None), runs.c.finished_at.is_not(None))
                 .order_by(*NEWEST_FIRST).limit(1))
        with self._read() as c:
            return c.scalar(query)

    def done_keys(self, run_id: str) -> set[str]:
        """Cell keys that already have a record in the run."""
        with self._read() as c:
            return set(c.scalars(select(cells.c.cell_key).where(cells.c.run_id == run_id).distinct()))


def resolve_run(store: Store, run: str | None) -> str:
    """A run id from 'latest', an id or None; UsageError when the database has no such run."""
    run_id = store.latest_run_id() if run in (None, "latest") else run
    if run_id is None or store.run(run_id) is None:
        raise UsageError(f"no run {run!r} in {store.where}; run `run_bench.py run` first or see `run_bench.py history`")
    return run_id
