"""The Slurm executor through submitit: its local executor in every CI run (the same job arrays as on a cluster,
run as local processes); Ctrl-C cancels the queued jobs and `--resume` finishes the run; a real cluster test runs
on this machine's Slurm, or on a single-node Slurm on loopback that the tests start (marked slurm)."""

from __future__ import annotations

import os
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


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)


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


def _interruptible() -> None:
    """Restore SIGINT's default in the child: a test run in the background (nohup, `&`, some CI runners) inherits
    SIGINT ignored, and Python installs no KeyboardInterrupt handler for an ignored signal, so Ctrl-C could not be
    delivered."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _job_processes(folder: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if any(str(folder) in a for a in p.info["cmdline"] or ())]


def test_ctrl_c_cancels_the_queued_cells_and_resume_finishes_the_run(tmp_path: Path) -> None:
    db, jobs = tmp_path / "s.sqlite", tmp_path / "jobs"
    slurm = ["--executor", "slurm", "--slurm-cluster", "local", "--slurm-folder", str(jobs)]
    run = subprocess.Popen([sys.executable, "run_bench.py", "run", *CELLS, *slurm, "--db", str(db), "-q"], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible)
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


def _external_slurm() -> bool:
    """Whether this machine already talks to a Slurm cluster (a login node): `sinfo` answers with its own config."""
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slurm
def test_a_real_slurm_cluster_runs_the_cells(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The four cells are the tasks of one job array on a real Slurm: this machine's cluster on a login node (job
    folder on the shared filesystem), else a single-node cluster on loopback that the tests start (slurm_cluster)."""
    db = tmp_path / "s.sqlite"
    if _external_slurm():
        env, where = dict(os.environ), ["--slurm-folder", str(REPO / "results" / "slurm-test")]
    else:
        env = request.getfixturevalue("slurm_cluster")
        where = ["--slurm-partition", "debug", "--slurm-folder", str(tmp_path / "jobs")]
    out = bench("run", *CELLS, "--executor", "slurm", *where, "--db", str(db), "-q", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    records = Store(db).records(Store(db).latest_run_id())
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}, [r["status"] for r in records]
    jobs = [r["executor"] for r in records]
    assert all(j["name"] == "slurm" and j["job_id"] and j["array_task_id"] is not None for j in jobs), jobs
    assert len({j["array_job_id"] for j in jobs}) == 1 and None not in {j["array_job_id"] for j in jobs}, jobs
    assert sorted(int(j["array_task_id"]) for j in jobs) == [0, 1, 2, 3], jobs
