"""A forked cell reports the host memory a fresh process would: fork and spawn agree within 5 % on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("torch", "tensorflow", "jax")
TOLERANCE = 0.05
pytestmark = pytest.mark.slow


def _memory(db: Path, isolation: str) -> dict[str, dict[str, Any]]:
    """Run mnist_mlp (smoke budget) on every backend under `isolation`; each backend's memory record."""
    from store import Store

    out = subprocess.run([sys.executable, "run_bench.py", "run", "--suite", "smoke", "--workloads", "mnist_mlp",
                          "--backends", ",".join(BACKENDS), "--isolation", isolation, "--db", str(db), "-q"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    store = Store(db)
    records = store.records(store.latest_run_id())
    assert all(r["status"] == "ok" and r["isolation"] == isolation for r in records), records
    return {r["cell"]["backend"]: r["memory"] for r in records}


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """{isolation: {backend: memory record}} for the default isolation (fork) and spawn."""
    tmp = tmp_path_factory.mktemp("memory")
    return {isolation: _memory(tmp / f"{isolation}.sqlite", isolation) for isolation in ("fork", "spawn")}


def test_forked_host_peak_is_a_fresh_processes(memory: dict[str, dict[str, dict[str, Any]]]) -> None:
    for backend in BACKENDS:
        fork, spawn = memory["fork"][backend]["host_peak_bytes"], memory["spawn"][backend]["host_peak_bytes"]
        assert abs(fork - spawn) <= TOLERANCE * spawn, (backend, fork / 2**20, spawn / 2**20)


def test_the_peak_is_baseline_plus_model(memory: dict[str, dict[str, dict[str, Any]]]) -> None:
    for isolation, by_backend in memory.items():
        for backend, m in by_backend.items():
            assert m["host_baseline_bytes"] > 0 and m["host_model_bytes"] >= 0, (isolation, backend, m)
            assert m["host_baseline_bytes"] + m["host_model_bytes"] == m["host_peak_bytes"], (isolation, backend)
            assert m["host_peak_method"] and m["host_ru_maxrss_bytes"] > 0


def test_fork_says_its_file_pages_were_prefaulted(memory: dict[str, dict[str, dict[str, Any]]]) -> None:
    for backend, m in memory["fork"].items():
        assert m["host_prefaulted_bytes"], backend
        assert "zygote" in m["host_peak_method"] and "spawn" not in memory["spawn"][backend]["host_peak_method"]
