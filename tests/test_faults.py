"""Failures are results: each fault is recorded with its type in a real worker process, and the run goes on."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import status
from harness.cell import Cell
from harness.launch import ZygotePool
from harness.runner import run_cell
from store import Store
from tests.faulty_backend import ENTRY

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _faulty_backend(monkeypatch):
    monkeypatch.setenv("BENCH_EXTRA_BACKENDS", ENTRY)


def _cell(mode: str, workload: str = "linear_regression") -> Cell:
    return Cell(workload, "faulty", mode, epochs=2)


@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_each_fault_gets_its_status(isolation):
    expected = {"fine": status.OK, "raise": status.FAILED, "abort": status.CRASHED, "hang": status.TIMEOUT,
                "oom": status.OOM, "fine-after": status.OK}
    pool = ZygotePool() if isolation == "fork" else None
    for name, want in expected.items():
        mode = name.removesuffix("-after")
        record = run_cell(_cell(mode), timeout_s=40 if mode != "hang" else 15, memory_limit_bytes=1500 * 2**20,
                          pool=pool)
        assert record["status"] == want, (mode, record.get("error"))
        assert record["key"] == f"linear_regression/faulty/{mode}/fp32"
        if want != status.OK:
            assert record["error"]["message"]
        else:
            assert record["isolation"] == isolation and record["quality"]["r2"] is not None
        if mode == "abort":
            assert "SIGABRT" in record["error"]["message"]
    if pool:
        pool.close()


def test_failed_cell_keeps_its_traceback():
    record = run_cell(_cell("raise"), timeout_s=60)
    assert record["error"]["type"] == "RuntimeError"
    assert "injected failure" in record["error"]["message"]
    assert "train_step" in record["error"]["traceback"]


def test_real_divergence_is_diverged(tmp_path):
    out = subprocess.run([sys.executable, "run_bench.py", "run", "--db", str(tmp_path / "d.sqlite"),
                          "--workloads", "linear_regression", "--backends", "torch", "--learning-rate", "50"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    records = Store(tmp_path / "d.sqlite").records(Store(tmp_path / "d.sqlite").latest_run_id())
    assert [r["status"] for r in records] == [status.DIVERGED]
    assert "nan" in records[0]["error"]["message"].lower() or "inf" in records[0]["error"]["message"].lower()


def test_kill_9_keeps_finished_cells_and_resume_completes(tmp_path):
    db = tmp_path / "k.sqlite"
    args = [sys.executable, "run_bench.py", "run", "--db", str(db), "--workloads", "linear_regression",
            "--backends", "faulty", "--modes", "fine,hang", "--timeout", "120"]
    env = {**os.environ}
    runner = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    store = Store(db) if db.exists() else None
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the first cell is committed and the hanging one is running
        if db.exists():
            store = store or Store(db)
            run_id = store.latest_run_id()
            if run_id and store.done_keys(run_id):
                break
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert store is not None
    run_id = store.latest_run_id()
    assert store.done_keys(run_id) == {"linear_regression/faulty/fine/fp32"}
    # the hanging cell is gone with the runner; --resume runs only what is missing (with a short timeout)
    resumed = subprocess.run([sys.executable, "run_bench.py", "run", "--db", str(db), "--resume", run_id,
                              "--timeout", "10"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    statuses = {r["key"]: r["status"] for r in store.records(run_id)}
    assert statuses == {"linear_regression/faulty/fine/fp32": status.OK,
                        "linear_regression/faulty/hang/fp32": status.TIMEOUT}, resumed.stderr
    assert resumed.returncode == 1  # a timeout is not ok
