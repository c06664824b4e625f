"""Our runs in pytest-benchmark's JSON: `pytest-benchmark compare` reads them (and its gates work on them)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reports.pytest_benchmark import to_pytest_benchmark
from store import Store

REPO = Path(__file__).resolve().parent.parent


def _record(backend: str, rates: list[float]) -> dict:
    return {"key": f"mnist_cnn/{backend}/eager/fp32", "status": "ok", "spec_hash": "abc",
            "cell": {"workload": "mnist_cnn", "backend": backend, "mode": "eager", "precision": "fp32"},
            "timing": {"train": {"raw": rates, "median": sorted(rates)[len(rates) // 2], "batch_size": 128,
                                 "steps_per_trial": 10},
                       "infer": {"raw": [r * 4 for r in rates], "median": 4 * sorted(rates)[len(rates) // 2],
                                 "batch_size": 128, "steps_per_trial": 10}}}


def test_stats_are_seconds_per_step():
    doc = to_pytest_benchmark({"started_at": "2026-11-23T00:00:00+00:00"}, [_record("torch", [1280.0, 1280.0, 2560.0])])
    train = next(b for b in doc["benchmarks"] if b["name"].endswith("-train]"))
    assert train["stats"]["median"] == pytest.approx(0.1) and train["stats"]["min"] == pytest.approx(0.05)
    assert train["group"] == "mnist_cnn-train" and train["stats"]["rounds"] == 3


def test_pytest_benchmark_compare_reads_two_runs(tmp_path):
    db = tmp_path / "b.sqlite"
    store = Store(db)
    for rates in ([1000.0, 1010.0, 990.0], [500.0, 505.0, 495.0]):
        run_id = store.create_run("smoke", {}, {"machine_key": "m"})
        store.add_record(run_id, _record("torch", rates))
        store.finish_run(run_id)
        out = tmp_path / f"{run_id}.json"
        subprocess.run([sys.executable, "run_bench.py", "export", "--format", "pytest-benchmark", "--run", run_id,
                        "--db", str(db), "-o", str(out)], cwd=REPO, check=True, timeout=120)
        assert json.loads(out.read_text())["benchmarks"]
    tool = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent))
    assert tool, "pytest-benchmark's command is installed with the dev extra"
    files = sorted(str(p) for p in tmp_path.glob("*.json"))
    shown = subprocess.run([tool, "compare", *files, "--group-by=group"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "mnist_cnn[torch-eager-fp32-train]" in shown.stdout
