"""Store schema migrations: a real schema-4 file (tests/data/store_v4.sqlite, written by the v4 code) upgrades to
STORE_SCHEMA keeping every row, and processes that open one database at once migrate it once."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from store import STORE_SCHEMA, Store

V4_FILE = Path(__file__).resolve().parent / "data" / "store_v4.sqlite"
JOIN_TIMEOUT_S = 120


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows of one query on a SQLite file, read without the store."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _v4_copy(tmp_path: Path) -> Path:
    path = tmp_path / "v4.sqlite"
    shutil.copyfile(V4_FILE, path)
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [("4",)]
    return path


def test_the_v4_file_upgrades_and_keeps_every_record_parity_row_and_acceptance(tmp_path: Path) -> None:
    path = _v4_copy(tmp_path)
    cells = _rows(path, "SELECT id, run_id, cell_key, status, record FROM cells ORDER BY id")
    runs = _rows(path, "SELECT run_id, suite, finished_at FROM runs ORDER BY run_id")
    parity = _rows(path, "SELECT checked_at, git_sha, rows, config FROM parity")
    accepted = _rows(path, "SELECT cell_key, run_id, accepted_by, accepted_at, reason FROM acceptances")
    assert len(cells) == 5 and len(runs) == 2 and len({c[2] for c in cells}) == 4  # one key stored twice

    store = Store(path)
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [(str(STORE_SCHEMA),)]
    assert _rows(path, "SELECT id, run_id, cell_key, status, record FROM cells ORDER BY id") == cells
    assert _rows(path, "SELECT id, attempt FROM cells ORDER BY id") == [(c[0], f"legacy-{c[0]}") for c in cells]
    assert _rows(path, "SELECT run_id, suite, finished_at FROM runs ORDER BY run_id") == runs
    for run_id, *_ in runs:  # the latest row per key, in stored order: what records() returned under v4
        latest = {key: json.loads(record) for _, rid, key, _, record in cells if rid == run_id}
        assert [(r["key"], r["timing"]) for r in store.records(run_id)] == [
            (k, v["timing"]) for k, v in sorted(latest.items(), key=lambda kv: max(
                c[0] for c in cells if c[1] == run_id and c[2] == kv[0]))]
    [(checked_at, git_sha, rows, config)] = parity
    latest_parity = store.latest_parity()
    assert latest_parity and (latest_parity["checked_at"], latest_parity["git_sha"]) == (checked_at, git_sha)
    assert latest_parity["rows"] == json.loads(rows) and latest_parity["config"] == json.loads(config)
    assert [tuple(a.values()) for a in store.acceptances()] == accepted

    nightly = store.latest_keyed_run()
    assert nightly == next(c[1] for c in cells if c[2] == "mnist_mlp/jax/jit/fp32")
    key = "mnist_mlp/torch/eager/fp32"
    record = {"key": key, "status": "ok", "timing": {"train": {"median": 2000.0}},
              "cell": {"workload": "mnist_mlp", "backend": "torch", "mode": "eager", "precision": "fp32"}}
    store.add_record(nightly, record)  # a new attempt '1' beside the legacy rows: it is the latest
    store.add_record(nightly, record)  # and a repeated write of it replaces it
    assert next(r for r in store.records(nightly) if r["key"] == key)["timing"]["train"]["median"] == 2000.0
    assert len(_rows(path, "SELECT id FROM cells")) == 6
    new = store.create_run("smoke", {}, {"machine_key": "m"})
    store.add_record(new, record)
    store.finish_run(new)
    store.add_acceptance(key, new, "bob", "reason")
    assert store.latest_run_id() == new and len(store.acceptances()) == 2
    store.close()
    assert _rows(path, "SELECT sql FROM sqlite_master WHERE name='cells_attempt'")[0][0].startswith(
        "CREATE UNIQUE INDEX")


def _open(target: str, barrier: Any, out: Any) -> None:
    """Wait for the others, open the store, and report which schema statements this process ran."""
    ran: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("CREATE TABLE", "ALTER TABLE")):
            ran.append(" ".join(statement.split()[:6]))

    sa.event.listen(sa.Engine, "before_cursor_execute", watch)
    barrier.wait(JOIN_TIMEOUT_S)
    Store(target).close()
    out.put(ran)


def _open_at_once(target: str, processes: int) -> list[list[str]]:
    """Open `target` from several spawned processes released together; the schema statements each one ran."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(target, barrier, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:  # each puts one short list: it can exit before the parent reads it
        p.join(JOIN_TIMEOUT_S)
    assert [p.exitcode for p in procs] == [0] * processes
    return [out.get(timeout=10) for _ in procs]


def test_a_v4_file_opened_by_two_processes_at_once_migrates_once(tmp_path: Path) -> None:
    path = _v4_copy(tmp_path)
    ran = _open_at_once(str(path), 2)
    assert sorted(ran, key=len) == [[], ["ALTER TABLE cells ADD COLUMN attempt"]]
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [(str(STORE_SCHEMA),)]
    assert len(_rows(path, "SELECT id FROM cells WHERE attempt LIKE 'legacy-%'")) == 5


def test_a_fresh_store_opened_by_four_processes_at_once_is_created_once(store_target: str) -> None:
    ran = _open_at_once(store_target, 4)
    creators = [r for r in ran if r]
    assert len(creators) == 1 and sum("CREATE TABLE cells" in s for s in creators[0]) == 1
    store = Store(store_target)
    run_id = store.create_run("smoke", {}, {})
    assert store.run(run_id) and store.records(run_id) == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM meta")).scalar_one() == str(STORE_SCHEMA)
    store.close()
