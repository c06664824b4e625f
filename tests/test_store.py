"""The results store: the API round trip on SQLite and PostgreSQL, SQLite's locking and immediate commits, schema
upgrades, bad targets, export and the pandas loader (concurrent writers: test_store_concurrency.py)."""

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from reports.export import load_dataframe, load_rows, write_rows
from reports.flat import FIELDS
from store import STORE_SCHEMA, Store
from suites.errors import UsageError


def _record(key: str, status: str = "ok", accuracy: float = 0.9) -> dict:
    workload, backend, mode, precision = key.split("/")
    return {"schema_version": 1, "key": key, "status": status,
            "cell": {"workload": workload, "backend": backend, "mode": mode, "precision": precision},
            "quality": {"accuracy": accuracy, "f1_macro": 0.8, "confusion_matrix": [[1, 0], [0, 1]]},
            "timing": {"train": {"median": 100.0, "ci_low": 90.0, "ci_high": 110.0}}}


def _backdate(store: Store, run_id: str, started_at: str) -> None:
    """Give a run its own start time (runs made within one second would sort by their random suffix)."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET started_at=:t WHERE run_id=:id"), {"t": started_at, "id": run_id})


def test_run_lifecycle_and_records(store_target):
    store = Store(store_target)
    run_id = store.create_run("smoke", {"x": 1}, {"machine_key": "m"})
    store.add_record(run_id, _record("a/torch/eager/fp32"))
    store.add_record(run_id, _record("a/jax/jit/fp32", "failed"))
    assert store.done_keys(run_id) == {"a/torch/eager/fp32", "a/jax/jit/fp32"}
    store.finish_run(run_id)
    [run] = store.runs()
    assert run["cells"] == {"ok": 1, "failed": 1} and run["finished_at"]
    assert [r["key"] for r in store.records(run_id)] == ["a/torch/eager/fp32", "a/jax/jit/fp32"]


def test_run_counts_are_per_cell_not_per_process(store_target):
    """A cell measured in 3 processes (attempts '1', '2', '3') counts once, with its latest status."""
    store = Store(store_target)
    run_id = store.create_run("nightly", {}, {"machine_key": "m"})
    for attempt, state in (("1", "ok"), ("2", "ok"), ("3", "timeout")):
        store.add_record(run_id, {**_record("a/torch/eager/fp32", state), "attempt": attempt})
    store.add_record(run_id, _record("a/jax/jit/fp32"))
    [run] = store.runs()
    assert run["cells"] == {"timeout": 1, "ok": 1}


def test_wal_and_schema_version(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(STORE_SCHEMA)


def test_newer_schema_is_refused_with_advice(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    with pytest.raises(ValueError, match="newer than this code"):
        Store(tmp_path / "s.sqlite")


def test_export_json_csv_and_pandas(store_target):
    store = Store(store_target)
    run_id = store.create_run("smoke", {}, {})
    store.add_record(run_id, _record("a/torch/eager/fp32"))
    rows = load_rows(store, run_id)
    assert set(rows[0]) == set(FIELDS) and rows[0]["train_samples_per_s_ci_low"] == 90.0
    buf = io.StringIO()
    write_rows(rows, "csv", buf)
    parsed = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert parsed[0]["accuracy"] == "0.9" and json.loads(parsed[0]["confusion_matrix"]) == [[1, 0], [0, 1]]
    buf = io.StringIO()
    write_rows(rows, "json", buf)
    assert json.loads(buf.getvalue())[0]["run_id"] == run_id
    frame = load_dataframe(store_target)
    assert list(frame.columns) == list(FIELDS) and frame.loc[0, "workload"] == "a"


def test_v1_database_is_upgraded_on_open(tmp_path):
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
            machine_key TEXT, config TEXT NOT NULL, provenance TEXT NOT NULL);
        INSERT INTO runs VALUES ('old', 'smoke', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'm', '{}',
            '{}');
    """)
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.run("old")["config_key"] is None
    new = store.create_run("smoke", {}, {"machine_key": "m"}, config_key="k")
    store.finish_run(new)
    assert store.history("m", "k") == [new]
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == str(STORE_SCHEMA)


def test_v1_records_upgrade_on_load_gpu_becomes_cuda(store_target):
    """Before the one backend contract, TensorFlow and JAX named an NVIDIA GPU 'gpu' and torch 'cuda'."""
    from store import RECORD_SCHEMA

    store = Store(store_target)
    run_id = store.create_run("smoke", {}, {"machine_key": "m"})
    for key, device in (("a/tensorflow/graph/fp32", "gpu"), ("a/torch/eager/fp32", "cuda"), ("a/jax/jit/fp32", "cpu")):
        store.add_record(run_id, {**_record(key), "device_info": {"device": device}})
    records = store.records(run_id)
    assert [r["device_info"]["device"] for r in records] == ["cuda", "cuda", "cpu"]
    assert {r["schema_version"] for r in records} == {RECORD_SCHEMA} and RECORD_SCHEMA == 2


def test_v2_database_is_upgraded_to_v3_and_keeps_every_record(tmp_path):
    """A database written by the store schema 2 code (no acceptances table) opens, upgrades and loses nothing."""
    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '2');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
            machine_key TEXT, config TEXT NOT NULL, provenance TEXT NOT NULL, config_key TEXT);
        CREATE TABLE cells (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
            cell_key TEXT NOT NULL, workload TEXT NOT NULL, backend TEXT NOT NULL, mode TEXT NOT NULL,
            precision TEXT NOT NULL, status TEXT NOT NULL, record_schema INTEGER NOT NULL, record TEXT NOT NULL,
            stored_at TEXT NOT NULL);
        CREATE INDEX cells_run ON cells(run_id);
        CREATE TABLE parity (id INTEGER PRIMARY KEY AUTOINCREMENT, checked_at TEXT NOT NULL, git_sha TEXT,
            rows TEXT NOT NULL);
        INSERT INTO runs VALUES ('r1', 'nightly', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'm',
            '{}', '{"git_sha": "abc"}', 'k');
        INSERT INTO parity (checked_at, git_sha, rows) VALUES ('2026-01-01T00:02:00+00:00', 'abc', '[]');
    """)
    for key, status in (("a/torch/eager/fp32", "ok"), ("a/jax/jit/fp32", "skipped")):
        conn.execute("INSERT INTO cells (run_id, cell_key, workload, backend, mode, precision, status, record_schema, "
                     "record, stored_at) VALUES ('r1', ?, 'a', ?, ?, 'fp32', ?, 2, ?, 'now')",
                     (key, key.split("/")[1], key.split("/")[2], status,
                      json.dumps({**_record(key, status), "schema_version": 2})))
    conn.commit()
    conn.close()
    store = Store(path)
    assert [(r["key"], r["status"]) for r in store.records("r1")] == [("a/torch/eager/fp32", "ok"),
                                                                       ("a/jax/jit/fp32", "skipped")]
    assert store.run("r1")["provenance"] == {"git_sha": "abc"} and store.latest_parity()["git_sha"] == "abc"
    assert store.history("m", "k") == ["r1"] and store.latest_keyed_run() == "r1"
    assert store.acceptances() == []
    store.add_acceptance("a/torch/eager/fp32", "r1", "alice", "new BLAS")
    [acc] = Store(path).acceptances()
    assert (acc["cell_key"], acc["run_id"], acc["accepted_by"], acc["reason"]) == ("a/torch/eager/fp32", "r1",
                                                                                      "alice", "new BLAS")
    assert acc["accepted_at"]
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == str(STORE_SCHEMA) == "5"


def test_v3_database_is_upgraded_to_v4_and_keeps_its_parity_rows(tmp_path):
    """A store schema 3 database opens, upgrades, and its parity rows gain git SHA, fp32, CPU and default modes."""
    path = tmp_path / "v3.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP TABLE parity;
        CREATE TABLE parity (id INTEGER PRIMARY KEY AUTOINCREMENT, checked_at TEXT NOT NULL, git_sha TEXT,
            rows TEXT NOT NULL);
        UPDATE meta SET value='3' WHERE key='schema_version';
    """)
    old = [{"workload": "mnist_mlp", "a": "numpy-reference", "b": "torch", "ok": True},
           {"workload": "mnist_mlp", "a": "torch", "b": "jax", "ok": False, "failed": ["losses"]}]
    conn.execute("INSERT INTO parity (checked_at, git_sha, rows) VALUES ('2026-01-01T00:02:00+00:00', 'abc', ?)",
                 (json.dumps(old),))
    conn.commit()
    conn.close()
    store = Store(path)
    parity = store.latest_parity()
    assert parity and parity["git_sha"] == "abc" and len(parity["rows"]) == 2 == len(parity["all_rows"])
    ref, pair = parity["rows"]
    assert (ref["a"], ref["b"], ref["ok"], pair["failed"]) == ("numpy-reference", "torch", True, ["losses"])
    for row in parity["rows"]:
        assert (row["git_sha"], row["precision"], row["mode_a"], row["mode_b"]) == ("abc", "fp32", None, None)
    assert (ref["device_a"], ref["device_b"], pair["device_a"], pair["device_b"]) == (None, "cpu", "cpu", "cpu")
    store.add_parity([{"workload": "mnist_mlp", "a": "torch", "mode_a": "compile", "device_a": "cpu", "b": "jax",
                       "mode_b": "jit", "device_b": "cpu", "precision": "bf16", "ok": True}], "def",
                     {"modes": ["compile", "jit"]})
    store.close()
    reopened = Store(path).latest_parity()
    assert reopened and reopened["git_sha"] == "def" and reopened["config"] == {"modes": ["compile", "jit"]}
    assert reopened["rows"][0]["git_sha"] == "def" and len(reopened["all_rows"]) == 3
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == str(STORE_SCHEMA) == "5"


def test_history_parity_acceptances_and_keyed_runs_round_trip(store_target):
    store = Store(store_target)
    assert (store.latest_run_id(), store.latest_keyed_run(), store.latest_parity(), store.runs()) == (None,) * 3 + ([],)
    ids = []
    for night, config_key in (("01", "k"), ("02", "k"), ("03", None), ("04", "k")):
        run_id = store.create_run("nightly", {"night": night}, {"machine_key": "m", "git_sha": night}, config_key)
        store.add_record(run_id, _record("a/torch/eager/fp32", accuracy=int(night) / 10))
        store.finish_run(run_id)
        _backdate(store, run_id, f"2026-01-{night}T00:00:00+00:00")
        ids.append(run_id)
    unfinished = store.create_run("nightly", {}, {"machine_key": "m"}, config_key="k")
    _backdate(store, unfinished, "2026-01-05T00:00:00+00:00")
    assert store.history("m", "k") == [ids[0], ids[1], ids[3]] and store.history("m", "k", before=ids[3]) == ids[:2]
    assert store.latest_run_id() == unfinished and store.latest_keyed_run() == ids[3]
    assert [r["run_id"] for r in store.runs()] == [unfinished, *reversed(ids)]
    info = store.run(ids[0])
    assert info and info["config"] == {"night": "01"} and info["provenance"]["git_sha"] == "01"
    [(first, records), (second, _)] = store.comparable_runs(ids[3], 5)
    assert (first["run_id"], second["run_id"], records[0]["quality"]["accuracy"]) == (ids[0], ids[1], 0.1)
    assert store.comparable_runs(ids[2], 5) == [] and store.run("nope") is None
    store.add_parity([{"workload": "w", "a": "torch", "b": "jax", "ok": True}], "sha1", {"modes": ["eager"]})
    store.add_parity([{"workload": "w", "a": "torch", "b": "jax", "ok": False}], "sha2")
    parity = store.latest_parity()
    assert parity and parity["git_sha"] == "sha2" and parity["config"] == {} and len(parity["all_rows"]) == 2
    assert parity["rows"][0]["precision"] == "fp32" and parity["rows"][0]["device_a"] == "cpu"
    store.add_acceptance("*", ids[3], "alice", "new BLAS")
    store.add_acceptance("a/torch/eager/fp32", ids[3], "bob", "driver")
    assert [(a["cell_key"], a["accepted_by"]) for a in store.acceptances()] == [("*", "alice"),
                                                                                 ("a/torch/eager/fp32", "bob")]
    store.close()


def test_a_repeated_attempt_replaces_its_row_and_a_new_attempt_adds_one(store_target):
    store = Store(store_target)
    run_id = store.create_run("smoke", {}, {})
    store.add_record(run_id, _record("a/torch/eager/fp32", "failed"))
    store.add_record(run_id, _record("b/torch/eager/fp32"))
    store.add_record(run_id, _record("a/torch/eager/fp32", accuracy=0.5))  # attempt "1" again: replaced
    assert [(r["key"], r["status"]) for r in store.records(run_id)] == [("a/torch/eager/fp32", "ok"),
                                                                         ("b/torch/eager/fp32", "ok")]
    assert store.runs()[0]["cells"] == {"ok": 2}
    store.add_record(run_id, {**_record("a/torch/eager/fp32", "failed"), "attempt": 2})  # a retry: its own row
    assert store.runs()[0]["cells"] == {"ok": 1, "failed": 1}  # counted by each cell's latest record
    assert [(r["key"], r["status"]) for r in store.records(run_id)] == [("b/torch/eager/fp32", "ok"),
                                                                         ("a/torch/eager/fp32", "failed")]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT cell_key, attempt FROM cells ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("a/torch/eager/fp32", "1"), ("b/torch/eager/fp32", "1"),
                                        ("a/torch/eager/fp32", "2")]


def test_sqlite_writes_begin_immediate_and_commit_at_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    seen: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement))
    run_id = store.create_run("smoke", {}, {})
    assert seen[0] == "BEGIN IMMEDIATE" and seen[1].startswith("INSERT INTO runs")
    seen.clear()
    store.add_record(run_id, _record("a/torch/eager/fp32"))
    assert seen[0] == "BEGIN IMMEDIATE" and seen[1].startswith("INSERT INTO cells")
    seen.clear()
    store.records(run_id)
    assert seen[0] == "BEGIN" and seen[1].startswith("SELECT")  # reads take no write lock
    other = sqlite3.connect(tmp_path / "s.sqlite")  # committed: another connection sees it while the store is open
    assert other.execute("SELECT cell_key FROM cells").fetchall() == [("a/torch/eager/fp32",)]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: d, "is a folder"),
    (lambda d: (d / "notes.txt").write_text("not a database " * 100) and d / "notes.txt", "file is not a database"),
    (lambda d: "mysql+pymysql://u@localhost/db", "not supported"),
    (lambda d: "sqlite://", "in memory"),
    (lambda d: "postgresql+psycopg://u@localhost", "names no database"),
])
def test_bad_targets_are_one_line_usage_errors_with_advice(tmp_path, make, needle):
    with pytest.raises(UsageError) as err:
        Store(make(tmp_path))
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert any(advice in message for advice in ("pass a file path", "pass another --db", "give "))


def test_a_cell_worker_reading_the_record_schema_does_not_load_sqlalchemy():
    import subprocess
    import sys

    code = "import sys; from store import RECORD_SCHEMA; print('sqlalchemy' in sys.modules)"
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
