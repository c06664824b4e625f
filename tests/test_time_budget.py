"""The suite's time budget: each workload's cells are extrapolated from the sizes run before it, and a workload that
does not fit in what is left is skipped whole, with the estimate, without a process. The cells' wall times are
injected (a recorded history), so nothing here depends on how fast this machine is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import memory_gate, status, time_budget
from harness.cell import Cell
from harness.executors import local as local_executor
from harness.plan import Overrides, plan_cells
from harness.session import execute
from harness.time_budget import TimeBudget, extrapolate_s, step_work
from harness.worker import base_record
from reports.flat import flatten
from store import Store
from suites.suite import load_suite

SIZES = ["gpt_lm_0p9m", "gpt_lm_3m", "gpt_lm_11m"]


def test_the_line_through_two_sizes_extrapolates_and_one_size_scales_by_work() -> None:
    assert extrapolate_s([], 5.0) is None
    assert extrapolate_s([(2.0, 10.0)], 6.0) == pytest.approx(30.0)  # one point: proportional, an upper bound
    assert extrapolate_s([(2.0, 10.0)], 1.0) == pytest.approx(10.0)  # never below what a smaller size took
    assert extrapolate_s([(1.0, 10.0), (2.0, 12.0)], 4.0) == pytest.approx(16.0)  # fixed 8 s + 2 s per unit
    assert extrapolate_s([(1.0, 12.0), (2.0, 10.0)], 4.0) == pytest.approx(12.0)  # no negative slope


def _fake_cells(monkeypatch: pytest.MonkeyPatch, wall_s: float) -> list[str]:
    """Replace the cell process by an ok record that took `wall_s`; the keys that ran."""
    ran: list[str] = []

    def run_cell(cell: Cell, *args: Any) -> dict[str, Any]:
        ran.append(cell.key)
        return {**base_record(cell), "status": status.OK, "wall_s": wall_s, "process_wall_s": wall_s}

    monkeypatch.setattr(local_executor, "run_cell", run_cell)  # cells run here, one by one
    return ran


def _suite(tmp_path: Path, budget_s: float) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(f'name = "sweep"\nbudget = "smoke"\ntiming = "scaling"\nworkloads = {SIZES!r}\n'
                    f'backends = ["torch", "jax"]\ntime_budget_s = {budget_s}\n'.replace("'", '"'))
    return path


def test_a_size_whose_extrapolated_time_does_not_fit_is_skipped_with_its_estimate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _fake_cells(monkeypatch, wall_s=100.0)
    suite = load_suite(str(_suite(tmp_path, budget_s=350)))
    cells = plan_cells(suite, Overrides())
    store = Store(tmp_path / "t.sqlite")
    run_id = store.create_run(suite.name, {}, {})
    execute(store, run_id, cells, suite.timeout_s, isolation="spawn", time_budget_s=suite.time_budget_s)
    records = {r["key"]: r for r in store.records(run_id)}
    # the smallest size has no history: it runs; the next needs 2 × 100 s × its work ratio (≈ 3.7) > 350 s
    assert ran == [c.key for c in cells if c.workload == "gpt_lm_0p9m"]
    ratio = step_work(cells[2]) / step_work(cells[0])
    assert ratio > 1.75
    for cell in cells[2:]:
        record = records[cell.key]
        assert record["status"] == status.SKIPPED and record["error"]["type"] == time_budget.SKIP_ERROR_TYPE
        message = record["error"]["message"]
        assert "s left of the suite's 350 s time budget; left for a bigger machine" in message, message
        assert record["memory_estimate"]["total_bytes"] > 0  # the report can still place the size
        assert "time budget" in str(flatten(record)["error"])
    need = float(records[cells[2].key]["error"]["message"].split("estimated ")[1].split(" s")[0].replace(",", ""))
    assert need == pytest.approx(2 * 100.0 * ratio, rel=0.01)


def test_a_generous_budget_runs_every_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _fake_cells(monkeypatch, wall_s=1.0)
    suite = load_suite(str(_suite(tmp_path, budget_s=10_000)))
    cells = plan_cells(suite, Overrides())
    store = Store(tmp_path / "t.sqlite")
    execute(store, store.create_run(suite.name, {}, {}), cells, suite.timeout_s, isolation="spawn",
            time_budget_s=suite.time_budget_s)
    assert ran == [c.key for c in cells]


def test_a_bad_time_budget_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nworkloads = ["gpt_lm"]\ntime_budget_s = -3\n')
    with pytest.raises(Exception, match="'time_budget_s' must be a positive number of seconds, got -3"):
        load_suite(str(path))


def test_a_budget_decides_once_per_workload() -> None:
    cells = [Cell("gpt_lm_0p9m", "torch", "eager"), Cell("gpt_lm_3m", "torch", "eager")]
    budget = TimeBudget(total_s=3.0)
    assert budget.refusal(cells[0], cells) is None  # no history on its line: not held back
    budget.observe(cells[0], {"status": status.OK, "process_wall_s": 5.0})
    assert budget.refusal(cells[1], cells) is not None
    assert budget.refusal(cells[0], cells) is None  # already decided
    spent = TimeBudget(total_s=1e-9)
    assert "0 s left" in str(spent.refusal(cells[0], cells))  # a spent budget starts nothing more


def test_a_size_over_the_memory_limit_is_skipped_for_memory_before_the_budget_is_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _fake_cells(monkeypatch, wall_s=100.0)
    path = _suite(tmp_path, budget_s=350)
    path.write_text(path.read_text() + "memory_limit_mb = 200\n")  # 0p9m and 3m fit; 11m needs ≈ 0.33 GiB
    suite = load_suite(str(path))
    cells = plan_cells(suite, Overrides())
    store = Store(tmp_path / "t.sqlite")
    run_id = store.create_run(suite.name, {}, {})
    execute(store, run_id, cells, suite.timeout_s, memory_limit_mb=suite.memory_limit_mb, isolation="spawn",
            time_budget_s=suite.time_budget_s)
    records = {r["key"]: r for r in store.records(run_id)}
    assert ran == [c.key for c in cells if c.workload == "gpt_lm_0p9m"]
    kinds = {c.workload: records[c.key]["error"]["type"] for c in cells if c.workload != "gpt_lm_0p9m"}
    assert kinds == {"gpt_lm_3m": time_budget.SKIP_ERROR_TYPE, "gpt_lm_11m": memory_gate.SKIP_ERROR_TYPE}
    large = records[next(c.key for c in cells if c.workload == "gpt_lm_11m")]
    assert large["memory_estimate"]["fits"] is False
    assert "> limit 200.0 MiB (the suite's memory_limit_mb)" in large["error"]["message"]
