"""The Ray executor on a real two-node loopback cluster, into a real PostgreSQL server: every cell of the smoke
suite on both nodes; then a node's raylet killed mid-run, its cell recorded lost and `--resume` finishing the run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_cluster import RAY_ENV, LoopbackCluster

from common.machine import REPO
from store import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[LoopbackCluster]:
    running = LoopbackCluster()
    try:
        yield running
    finally:
        running.stop()


def bench(*args: str, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, env=RAY_ENV, capture_output=True,
                          text=True, timeout=timeout_s)


def test_the_smoke_suite_for_two_backends_runs_on_both_nodes_into_postgres(cluster, postgres_url, tmp_path: Path):
    out = bench("run", "--suite", "smoke", "--backends", "torch,jax", "--executor", "ray", "--ray-address",
                cluster.address, "--db", postgres_url, "-q")
    assert out.returncode == 0, out.stderr[-3000:]
    store = Store(postgres_url)
    records = store.records(store.latest_run_id())
    assert len(records) == 24 and {r["status"] for r in records} == {"ok"}
    assert {r["executor"]["node_id"] for r in records} == {cluster.head_id, cluster.worker_id}
    assert all(r["isolation"] == "spawn" and r["machine"]["hostname"] for r in records)
    compare = bench("compare", "--db", postgres_url, "--format", "json")
    assert compare.returncode == 0 and "mnist_mlp" in compare.stdout, compare.stderr[-2000:]
    html = tmp_path / "fleet.html"
    report = bench("report", "--db", postgres_url, "--html", str(html))
    assert report.returncode == 0 and "mnist_mlp" in html.read_text(), report.stderr[-2000:]


def _cell_on(cluster: LoopbackCluster, node_id: str, timeout_s: float = 300) -> None:
    """Wait until a cell's own process runs under `node_id`'s raylet (a Ray worker is the raylet's child)."""
    raylet = cluster.raylet(node_id)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any("harness.worker" in " ".join(c.cmdline()) for c in raylet.children(recursive=True)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no cell started on node {node_id} within {timeout_s} s")


def test_a_killed_node_loses_only_its_cell_and_resume_finishes_the_run(cluster, postgres_url):
    cells = ["--workloads", "mnist_mlp,mnist_cnn,linear_regression", "--backends", "torch,jax"]
    run = subprocess.Popen([sys.executable, "run_bench.py", "run", "--suite", "smoke", *cells, "--executor", "ray",
                            "--ray-address", cluster.address, "--db", postgres_url, "-q"],
                           cwd=REPO, env=RAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _cell_on(cluster, cluster.worker_id)
    cluster.raylet(cluster.worker_id).kill()
    _, err = run.communicate(timeout=900)
    assert run.returncode == 1, err[-3000:]  # a crashed cell: the run ends, with failures
    store = Store(postgres_url)
    run_id = store.latest_run_id()
    records = store.records(run_id)
    assert len(records) == 6  # nothing lost: every cell has its record
    lost = [r for r in records if r["status"] != "ok"]
    assert len(lost) == 1 and lost[0]["status"] == "crashed" and lost[0]["error"]["node_lost"]
    assert lost[0]["error"]["message"].startswith("node lost: NodeDiedError"), lost[0]["error"]["message"]
    ok_nodes = {r["executor"]["node_id"] for r in records if r["status"] == "ok"}
    assert cluster.head_id in ok_nodes

    again = bench("run", "--resume", run_id, "--executor", "ray", "--ray-address", cluster.address,
                  "--db", postgres_url, "-q")
    assert again.returncode == 0, again.stderr[-3000:]
    store = Store(postgres_url)
    resumed = store.records(run_id)
    assert len(resumed) == 6 and {r["status"] for r in resumed} == {"ok"}
    assert {k: v for k, v in store.runs()[0]["cells"].items()} == {"ok": 6}  # the lost row was replaced, not added
    assert next(r for r in resumed if r["key"] == lost[0]["key"])["executor"]["node_id"] == cluster.head_id
