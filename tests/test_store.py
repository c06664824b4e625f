"""The results store: schema, immediate commits, concurrent writers, export and the pandas loader."""

import csv
import io
import json
import multiprocessing as mp
import sqlite3

import pytest

from reports.export import load_dataframe, load_rows, write_rows
from reports.flat import FIELDS
from store import STORE_SCHEMA, Store


def _record(key: str, status: str = "ok", accuracy: float = 0.9) -> dict:
    workload, backend, mode, precision = key.split("/")
    return {"schema_version": 1, "key": key, "status": status,
            "cell": {"workload": workload, "backend": backend, "mode": mode, "precision": precision},
            "quality": {"accuracy": accuracy, "f1_macro": 0.8, "confusion_matrix": [[1, 0], [0, 1]]},
            "timing": {"train": {"median": 100.0, "ci_low": 90.0, "ci_high": 110.0}}}


def test_run_lifecycle_and_records(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    run_id = store.create_run("smoke", {"x": 1}, {"machine_key": "m"})
    store.add_record(run_id, _record("a/torch/eager/fp32"))
    store.add_record(run_id, _record("a/jax/jit/fp32", "failed"))
    assert store.done_keys(run_id) == {"a/torch/eager/fp32", "a/jax/jit/fp32"}
    store.finish_run(run_id)
    [run] = store.runs()
    assert run["cells"] == {"ok": 1, "failed": 1} and run["finished_at"]
    assert [r["key"] for r in store.records(run_id)] == ["a/torch/eager/fp32", "a/jax/jit/fp32"]


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


def _writer(path: str, run_id: str, worker: int) -> None:
    store = Store(path)
    for i in range(25):
        store.add_record(run_id, _record(f"w{worker}_{i}/torch/eager/fp32"))


def test_two_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "s.sqlite")
    run_id = Store(path).create_run("smoke", {}, {})
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, run_id, w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(Store(path).done_keys(run_id)) == 50


def test_export_json_csv_and_pandas(tmp_path):
    store = Store(tmp_path / "s.sqlite")
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
    frame = load_dataframe(str(tmp_path / "s.sqlite"))
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


def test_v1_records_upgrade_on_load_gpu_becomes_cuda(tmp_path):
    """Before the one backend contract, TensorFlow and JAX named an NVIDIA GPU 'gpu' and torch 'cuda'."""
    from store import RECORD_SCHEMA

    store = Store(tmp_path / "s.sqlite")
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
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == str(STORE_SCHEMA) == "4"


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
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0] == str(STORE_SCHEMA) == "4"
