"""The main job end to end: real frameworks, real data, fresh processes, the store, the table and the exports."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reports.export import load_dataframe

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("e2e") / "bench.sqlite"
    out = subprocess.run([sys.executable, "run_bench.py", "run", "--suite", "smoke", "--db", str(db),
                          "--workloads", "mnist_cnn,text_cnn,linear_regression"],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return db, out.stdout


def test_every_cell_ok_with_quality_and_throughput(smoke_db):
    db, stdout = smoke_db
    frame = load_dataframe(str(db))
    assert len(frame) == 9 and set(frame["status"]) == {"ok"}
    assert set(frame["backend"]) == {"torch", "tensorflow", "jax"}
    assert (frame["train_samples_per_s"] > 0).all() and (frame["infer_samples_per_s"] > 0).all()
    assert (frame["train_samples_per_s_ci_low"] <= frame["train_samples_per_s"]).all()
    assert (frame["latency_ms_p50"] <= frame["latency_ms_p99"]).all()
    assert frame["host_peak_bytes"].min() > 50 * 2**20
    classification = frame[frame["workload"] != "linear_regression"]
    assert classification["accuracy"].notna().all() and classification["f1_macro"].notna().all()
    assert frame[frame["workload"] == "linear_regression"]["r2"].notna().all()
    assert "mnist_cnn" in stdout and "train/s" in stdout


def test_nothing_is_silently_missing_on_cpu(smoke_db):
    frame = load_dataframe(str(smoke_db[0]))
    for _, row in frame.iterrows():
        assert row["gpu_util_mean_pct"] is None or np.isnan(row["gpu_util_mean_pct"])
        assert "NVML" in row["gpu_reason"] or "nvidia-ml-py" in row["gpu_reason"]
        assert row["mfu"] > 0 and row["flops_per_sample"] > 0  # measured against the calibrated CPU peak
        assert row["flops_counter"]  # the framework's counter, or why there is none
        if row["backend"] == "torch":  # FlopCounterMode sees every layer of these three workloads
            assert row["flops_counted_train_ratio"] == pytest.approx(1.0, abs=0.02), row["workload"]
        assert row["device_peak_bytes"] is None or np.isnan(row["device_peak_bytes"]) or row["device_peak_bytes"] > 0
        if row["device_peak_bytes"] is None or np.isnan(row["device_peak_bytes"]):
            assert row["device_peak_reason"]


def test_exported_accuracy_and_f1_agree_with_confusion_matrix(smoke_db):
    db, _ = smoke_db
    out = subprocess.run([sys.executable, "run_bench.py", "export", "--format", "csv", "--db", str(db)],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    rows = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["confusion_matrix"]]
    assert len(rows) == 6
    for row in rows:
        cm = np.array(json.loads(row["confusion_matrix"]), dtype=float)
        accuracy = np.trace(cm) / cm.sum()
        tp, predicted, actual = np.diag(cm), cm.sum(0), cm.sum(1)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                       where=(precision + recall) > 0)
        assert float(row["accuracy"]) == pytest.approx(accuracy, abs=1e-9)
        assert float(row["f1_macro"]) == pytest.approx(f1.mean(), abs=1e-9)


def test_records_carry_provenance_and_fairness_settings(smoke_db):
    from store import Store

    store = Store(smoke_db[0])
    for record in store.records(store.latest_run_id()):
        assert record["spec_hash"] and record["git_sha"] is not None
        assert record["machine"]["cpu_logical"] >= 1 and record["packages"]["numpy"]
        assert record["allocator"]["pinned"], record["allocator"]  # the cell process ran with pinned glibc malloc
        settings = record["settings"]
        for key in ("threads", "mode", "precision", "layout", "compiled", "xla"):
            assert key in settings, (record["key"], key)


def test_export_and_records_keep_the_shape_they_had_before_the_house_plan(smoke_db):
    """Golden: the same three workloads run by the code before the layering refactor (tests/golden/)."""
    from store import Store
    from tests.export_shape import shape

    golden = json.loads((REPO / "tests" / "golden" / "smoke_export_shape.json").read_text())
    store = Store(smoke_db[0])
    now = shape(store.records(store.latest_run_id()))
    assert now["fields"] == golden["fields"]  # same export columns, same order
    assert set(now["cells"]) == set(golden["cells"])
    value_dependent = {"time_to_target_s"}  # empty until a cell reaches its target
    for key, before in golden["cells"].items():
        after = now["cells"][key]
        assert set(after["export"]) ^ set(before["export"]) <= value_dependent, key
        assert set(before["record"]) <= set(after["record"]), (key, set(before["record"]) - set(after["record"]))
