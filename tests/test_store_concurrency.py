"""Concurrent writers: processes released together write into one run on SQLite and on PostgreSQL; every cell is
stored exactly once per attempt, and a retried write replaces its row instead of adding one."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import sqlalchemy as sa

from store import Store

WRITERS = 4
CELLS_PER_WRITER = 50
RETRY_EVERY = 5
JOIN_TIMEOUT_S = 180


def _record(key: str, write: int) -> dict[str, Any]:
    workload, backend, mode, precision = key.split("/")
    return {"key": key, "status": "ok", "write": write,
            "cell": {"workload": workload, "backend": backend, "mode": mode, "precision": precision}}


def _key(writer: int, cell: int) -> str:
    return f"w{writer}c{cell}/torch/eager/fp32"


def _writer(target: str, run_id: str, writer: int, barrier: Any) -> None:
    """Open the store, wait for every writer, then write this writer's cells (every RETRY_EVERY-th one twice)."""
    store = Store(target)
    barrier.wait(JOIN_TIMEOUT_S)
    for cell in range(CELLS_PER_WRITER):
        store.add_record(run_id, _record(_key(writer, cell), 1))
        if cell % RETRY_EVERY == 0:  # a retry of the same attempt
            store.add_record(run_id, _record(_key(writer, cell), 2))
    store.close()


def test_four_writers_at_once_store_every_cell_once(store_target: str) -> None:
    store = Store(store_target)
    run_id = store.create_run("smoke", {}, {})
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_writer, args=(store_target, run_id, w, barrier)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(JOIN_TIMEOUT_S)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM cells WHERE run_id=:id"), {"id": run_id}).scalar_one()
        repeated = conn.execute(sa.text("SELECT run_id, cell_key, attempt FROM cells GROUP BY run_id, cell_key, "
                                        "attempt HAVING COUNT(*) > 1")).all()
    assert rows == WRITERS * CELLS_PER_WRITER and repeated == []
    records = {r["key"]: r for r in store.records(run_id)}
    expected = {_key(w, c): 2 if c % RETRY_EVERY == 0 else 1 for w in range(WRITERS) for c in range(CELLS_PER_WRITER)}
    assert {k: r["write"] for k, r in records.items()} == expected  # none lost, every retry's record kept
    assert store.runs()[0]["cells"] == {"ok": WRITERS * CELLS_PER_WRITER}
    store.close()
