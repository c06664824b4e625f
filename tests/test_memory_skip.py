"""The memory gate before each cell: a cell whose estimate cannot fit is `skipped` with the estimate and the limit and
no process; one that fits runs and keeps its estimate in the record, `oom` included."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import memory_gate, runner, status
from harness.cell import Cell
from harness.plan import Overrides, plan_cells
from harness.session import execute
from reports.flat import flatten
from store import Store
from suites.suite import load_suite
from tests.faulty_backend import ENTRY

GIB = 2**30


@pytest.fixture
def no_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any attempt to launch a cell process; the keys it was asked for."""
    asked: list[str] = []

    def launch(cell: dict[str, Any], *args: object) -> None:
        asked.append(Cell.from_dict(cell).key)
        raise AssertionError(f"a process was launched for {asked[-1]}")

    monkeypatch.setattr(runner, "SpawnedCell", launch)
    monkeypatch.setattr(runner, "ForkedCell", lambda zygote, cell, *a: launch(cell))
    return asked


def test_a_suite_with_a_tiny_limit_skips_every_cell_without_a_process(tmp_path: Path, no_process: list[str]) -> None:
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text('name = "tiny"\nbudget = "smoke"\nworkloads = ["mnist_mlp", "text_transformer"]\n'
                          'backends = ["torch", "jax"]\nmemory_limit_mb = 1\n')
    suite = load_suite(str(suite_file))
    cells = plan_cells(suite, Overrides())
    store = Store(tmp_path / "m.sqlite")
    run_id = store.create_run(suite.name, {}, {})
    execute(store, run_id, cells, suite.timeout_s, memory_limit_mb=suite.memory_limit_mb, isolation="spawn")
    records = store.records(run_id)
    assert no_process == [] and len(records) == 4
    for record in records:
        estimate = memory_gate.cell_estimate(Cell.from_dict(record["cell"]))
        assert record["status"] == status.SKIPPED and record["pid"] == os.getpid()  # made here, not in a child
        kept = record["memory_estimate"]
        assert kept["total_bytes"] == estimate.total_bytes > 2**20 and kept["limit_bytes"] == 2**20
        assert kept["fits"] is False and kept["limit_source"] == memory_gate.SUITE_LIMIT
        message = record["error"]["message"]
        assert message.startswith(f"needs an estimated {estimate.describe()} > limit 1.0 MiB (the suite's "
                                  "memory_limit_mb); left for a bigger machine"), message
        assert record["error"]["type"] == memory_gate.SKIP_ERROR_TYPE
        row = flatten(record)
        assert row["memory_estimate_bytes"] == estimate.total_bytes and row["memory_estimate_ratio"] is None
        assert row["status"] == "skipped" and row["error"].startswith(f"{memory_gate.SKIP_ERROR_TYPE}: needs")


def test_a_huge_batch_names_gibibytes_and_the_parts(no_process: list[str]) -> None:
    cell = Cell("text_transformer", "torch", "eager", budget="standard", batch_size=1_000_000)
    record = runner.run_cell(cell, timeout_s=60, memory_limit_bytes=20 * GIB)
    message = record["error"]["message"]
    assert record["status"] == status.SKIPPED and no_process == []
    assert message.startswith("needs an estimated ") and " GiB (weights " in message
    assert "activations " in message and "attention scores " in message and "> limit 20.0 GiB" in message
    assert record["memory_estimate"]["total_bytes"] > 20 * GIB and record["memory_estimate"]["batch_size"] == 10**6


def test_without_a_suite_limit_the_machine_s_available_memory_is_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = Cell("mnist_cnn", "torch", "eager")
    need = memory_gate.cell_estimate(cell).total_bytes
    monkeypatch.setattr(memory_gate.psutil, "virtual_memory", lambda: SimpleNamespace(available=need - 1))
    tight = memory_gate.admit(cell, None)
    assert not tight.fits and tight.limit_bytes == need - 1 and tight.limit_source == memory_gate.AVAILABLE
    assert "(this machine's available memory); left for a bigger machine" in tight.reason()
    monkeypatch.setattr(memory_gate.psutil, "virtual_memory", lambda: SimpleNamespace(available=need))
    assert memory_gate.admit(cell, None).fits
    assert memory_gate.admit(cell, need).fits and not memory_gate.admit(cell, need - 1).fits  # the suite's limit


def test_a_cuda_cell_is_not_held_to_the_host_limit() -> None:
    admission = memory_gate.admit(Cell("mnist_cnn", "torch", "eager", device="cuda"), 1)
    assert admission.fits and admission.limit_bytes is None and admission.limit_source == memory_gate.NOT_GATED
    assert admission.to_record()["total_bytes"] == admission.estimate.total_bytes


@pytest.mark.slow
def test_a_small_cell_under_a_generous_limit_runs_and_keeps_its_estimate() -> None:
    cell = Cell("linear_regression", "torch", "eager", epochs=2)
    record = runner.run_cell(cell, timeout_s=180, memory_limit_bytes=8 * GIB)
    assert record["status"] == status.OK, record.get("error")
    kept = record["memory_estimate"]
    assert kept == memory_gate.Admission(memory_gate.cell_estimate(cell), 8 * GIB, memory_gate.SUITE_LIMIT).to_record()
    assert kept["fits"] is True and kept["total_bytes"] > 0
    row = flatten(record)
    assert row["memory_estimate_bytes"] == kept["total_bytes"]
    assert row["memory_estimate_ratio"] == pytest.approx(record["memory"]["host_model_bytes"] / kept["total_bytes"])


@pytest.mark.slow
def test_a_cell_that_fits_its_estimate_but_outgrows_the_limit_is_oom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_EXTRA_BACKENDS", ENTRY)
    cell = Cell("linear_regression", "faulty", "oom", epochs=2)  # its train step allocates until it is killed
    record = runner.run_cell(cell, timeout_s=60, memory_limit_bytes=1500 * 2**20)
    assert record["status"] == status.OOM, record.get("error")
    assert "exceeded the limit 1500 MiB" in record["error"]["message"]
    assert record["memory_estimate"]["fits"] is True
    assert record["memory_estimate"]["total_bytes"] == memory_gate.cell_estimate(cell).total_bytes
