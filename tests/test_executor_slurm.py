"""The Slurm executor through submitit: its local executor in every CI run (the same job arrays as on a cluster,
run as local processes); Ctrl-C cancels the queued jobs and `--resume` finishes the run; a real cluster test runs
where `sbatch` exists (marked slurm)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from common.machine import REPO
from store import Store

pytestmark = pytest.mark.slow
pytest.importorskip("submitit", reason="submitit is not installed: pip install -c constraints.txt -e '.[slurm]'")

CELLS = ["--suite", "smoke", "--workloads", "mnist_mlp,linear_regression", "--backends", "torch,jax"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900)


def test_cells_run_as_job_array_tasks_with_their_job_ids(tmp_path: Path) -> None:
    db, jobs = tmp_path / "s.sqlite", tmp_path / "jobs"
    out = bench("run", *CELLS, "--executor", "slurm", "--slurm-cluster", "local", "--slurm-parallel", "2",
                "--slurm-folder", str(jobs), "--db", str(db), "-q")
    assert out.returncode == 0, out.stderr[-3000:]
    records = Store(db).records(Store(db).latest_run_id())
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    assert all(r["executor"]["name"] == "slurm" and r["executor"]["job_id"] for r in records)
    assert len({r["executor"]["job_id"] for r in records}) == 4 and all(r["isolation"] == "spawn" for r in records)
    assert len(list(jobs.glob("*/*_result.pkl"))) == 4  # each cell was a submitit job with its own folder


def _job_processes(folder: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if any(str(folder) in a for a in p.info["cmdline"] or ())]


def test_ctrl_c_cancels_the_queued_cells_and_resume_finishes_the_run(tmp_path: Path) -> None:
    db, jobs = tmp_path / "s.sqlite", tmp_path / "jobs"
    slurm = ["--executor", "slurm", "--slurm-cluster", "local", "--slurm-folder", str(jobs)]
    run = subprocess.Popen([sys.executable, "run_bench.py", "run", *CELLS, *slurm, "--db", str(db), "-q"], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (db.exists() and (rid := Store(db).latest_run_id()) and Store(db).records(rid)):
        assert time.monotonic() < deadline and run.poll() is None, "no cell finished within 300 s"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-3000:]
    assert "run --resume" in err
    store = Store(db)
    run_id = store.latest_run_id()
    assert store.run(run_id)["finished_at"] is None and 1 <= len(store.records(run_id)) < 4
    assert psutil.wait_procs(_job_processes(jobs), timeout=30)[1] == []  # no cell left running

    again = bench("run", "--resume", run_id, *slurm, "--db", str(db), "-q")
    assert again.returncode == 0, again.stderr[-3000:]
    records = Store(db).records(run_id)
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}


@pytest.mark.slurm
@pytest.mark.skipif(shutil.which("sbatch") is None, reason="no Slurm here (sbatch not on PATH)")
def test_a_real_slurm_cluster_runs_the_cells(tmp_path: Path) -> None:
    """On a Slurm login node with a shared filesystem: the job array's tasks run the cells on compute nodes."""
    db = tmp_path / "s.sqlite"
    out = bench("run", *CELLS, "--executor", "slurm", "--slurm-folder", str(REPO / "results" / "slurm-test"),
                "--db", str(db), "-q")
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(r["executor"]["job_id"] for r in Store(db).records(Store(db).latest_run_id()))
