"""Repeated cells: N fresh processes per cell, one record per key carrying every process, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import session
from harness.cell import Cell
from harness.executors import local as local_executor
from harness.plan import Overrides, plan_repeats
from store import Store
from suites.errors import SpecError, UsageError
from suites.suite import load_suite, parse_suite


def _record(cell: Cell, level: float, ok: bool = True) -> dict[str, Any]:
    """A fake worker record whose train trials sit around `level`."""
    raw = [level * f for f in (0.98, 1.0, 1.02, 0.99, 1.01)]
    timing = {"train": {"median": level, "cv": 0.01, "ci_low": level, "ci_high": level, "raw": raw},
              "infer": {"median": level, "cv": 0.01, "ci_low": level, "ci_high": level, "raw": raw},
              "latency_ms": {"1": {"p50": 1.0, "raw_ms": [1.0 / level] * 100}}}
    return {"key": cell.key, "cell": cell.to_dict(), "status": "ok" if ok else "failed", "wall_s": 1.0,
            "timing": timing if ok else None}


def _fake(monkeypatch: pytest.MonkeyPatch, levels: list[float], fail_at: int | None = None) -> list[int]:
    calls: list[int] = []

    def run_cell(cell: Cell, *args: Any) -> dict[str, Any]:
        calls.append(1)
        n = len(calls)
        return _record(cell, levels[(n - 1) % len(levels)], ok=n != fail_at)

    monkeypatch.setattr(local_executor, "run_cell", run_cell)  # cells run here, one by one
    return calls


def test_suites_declare_repeats_and_bad_values_are_one_line() -> None:
    assert (load_suite("smoke").repeats, load_suite("standard").repeats, load_suite("nightly").repeats) == (1, 3, 3)
    assert plan_repeats(load_suite("smoke"), Overrides(repeats=4)) == 4
    with pytest.raises(UsageError):
        plan_repeats(load_suite("smoke"), Overrides(repeats=0))


def test_a_bad_repeats_key_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('budget = "smoke"\nworkloads = ["mnist_mlp"]\nrepeats = 0\n')
    with pytest.raises(SpecError, match="bad.toml: 'repeats'"):
        parse_suite(bad)


def test_three_processes_give_one_pooled_record_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch, [100.0, 120.0, 80.0])
    store, cell = Store(tmp_path / "r.sqlite"), Cell("mnist_mlp", "torch", "eager")
    run_id = store.create_run("t", {}, {})
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    (rec,) = store.records(run_id)
    assert len(calls) == 3 and rec["key"] == cell.key and rec["repeat"] == 3
    assert [p["repeat"] for p in rec["repeats"]] == [1, 2, 3]
    train = rec["timing"]["train"]
    assert train["median"] == pytest.approx(100.0) and train["processes"] == 3 and len(train["raw"]) == 15
    assert train["cv_between"] == pytest.approx(0.2) and train["cv"] == pytest.approx(0.0158, abs=1e-3)
    assert train["ci_low"] < 80 < 120 < train["ci_high"]  # three processes 20 % apart: a wide interval
    assert len(rec["timing"]["latency_ms"]["1"]["raw_ms"]) == 300
    assert rec["timing"]["latency_ms"]["1"]["p50_cv_between"] > 0.1


def test_resume_runs_only_the_missing_repeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch, [100.0, 110.0])
    store, cell = Store(tmp_path / "r.sqlite"), Cell("mnist_mlp", "torch", "eager")
    run_id = store.create_run("t", {}, {})
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=2)  # as if interrupted after 2
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    (rec,) = store.records(run_id)
    assert len(calls) == 3 and rec["repeat"] == 3 and len(rec["repeats"]) == 3
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    assert len(calls) == 3  # complete: nothing more runs


def test_a_failed_process_fails_the_cell_and_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch, [100.0], fail_at=2)
    store, cell = Store(tmp_path / "r.sqlite"), Cell("mnist_mlp", "torch", "eager")
    run_id = store.create_run("t", {}, {})
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    (rec,) = store.records(run_id)
    assert len(calls) == 2 and rec["status"] == "failed" and rec["repeat"] == 2
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    assert len(calls) == 2  # a failed cell is not retried on resume, as before


def test_one_process_keeps_the_old_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, [100.0])
    store, cell = Store(tmp_path / "r.sqlite"), Cell("mnist_mlp", "torch", "eager")
    run_id = store.create_run("t", {}, {})
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=1)
    (rec,) = store.records(run_id)
    assert "repeats" not in rec and "repeat" not in rec


def test_compare_uses_process_medians_with_a_hierarchical_interval() -> None:
    """Two cells 10 % apart in process medians but with 20 % between-process noise: a wide CI, no false verdict."""
    from reports.compare import process_trials, ratio_ci, ratio_ci_processes

    cell = Cell("mnist_mlp", "torch", "eager")
    recs = []
    for levels in ([100.0, 120.0, 80.0], [110.0, 132.0, 88.0]):
        rec: dict[str, Any] = {}
        for k, level in enumerate(levels, 1):
            rec = session.merge_repeat(_record(cell, level), rec.get("repeats", []), k)
        recs.append(rec)
    groups = [process_trials(r, ("timing", "train", "raw")) for r in recs]
    assert [len(g) for g in groups] == [3, 3]
    ratio, low, high = ratio_ci_processes(groups[1], groups[0])
    assert ratio == pytest.approx(1.1) and low < 1.0 < high
    pooled = ratio_ci(recs[1]["timing"]["train"]["raw"][:5], recs[0]["timing"]["train"]["raw"][:5])
    assert pooled[1] > 1.0  # one process each: within-process noise alone calls it significant


def test_processes_are_interleaved_across_cells_and_a_failed_cell_stops(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pass k runs process k of every cell: a cell's processes lie a pass apart, so one slow spell of the machine
    reaches one of them, not all three."""
    order: list[str] = []

    def run_cell(cell: Cell, *args: Any) -> dict[str, Any]:
        order.append(cell.workload)
        return _record(cell, 100.0, ok=not (cell.workload == "text_cnn" and order.count("text_cnn") == 2))

    monkeypatch.setattr(local_executor, "run_cell", run_cell)  # cells run here, one by one
    seen: list[tuple[str, bool]] = []
    store = Store(tmp_path / "r.sqlite")
    run_id = store.create_run("t", {}, {})
    cells = [Cell(w, "torch", "eager") for w in ("mnist_mlp", "text_cnn", "tfidf_mlp")]
    records = session.execute(store, run_id, cells, 60, progress=lambda c, r: seen.append((c.workload, r is None)),
                              isolation="spawn", repeats=3)
    assert order == ["mnist_mlp", "text_cnn", "tfidf_mlp", "mnist_mlp", "text_cnn", "tfidf_mlp", "mnist_mlp",
                     "tfidf_mlp"]
    assert [r["status"] for r in records] == ["ok", "failed", "ok"] and [r["repeat"] for r in records] == [3, 2, 3]
    finished = [w for w, started in seen if not started]
    assert finished == ["text_cnn", "mnist_mlp", "tfidf_mlp"]  # each cell reported done once, when it is


def test_each_pass_forks_from_its_own_zygote(tmp_path: Path) -> None:
    """Real cells: the two processes of a repeated cell come from different parents (no shared zygote state)."""
    store, cell = Store(tmp_path / "r.sqlite"), Cell("linear_regression", "torch", "eager")
    run_id = store.create_run("t", {}, {})
    (rec,) = session.execute(store, run_id, [cell], 300, isolation="fork", repeats=2)
    assert rec["status"] == "ok", rec.get("error")
    parents = [p["parent_pid"] for p in rec["repeats"]]
    assert None not in parents and parents[0] != parents[1], parents
