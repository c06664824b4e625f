"""The scaling view: a real sweep run (the smallest size in torch, the largest skipped by the suite's memory limit, a
middle one by an injected time-budget record) read back by `compare --scaling` (table, markdown, JSON) and by the
HTML report's scaling section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cell import Cell
from harness.time_budget import TimeBudget
from reports.scaling import left_for_bigger_machines, scaling_rows
from store import Store
from tests.conftest import require_backend

REPO = Path(__file__).resolve().parent.parent

SUITE = """name = "scaling_test"
budget = "smoke"
timing = "scaling"
workloads = ["gpt_lm_0p9m", "gpt_lm_1p5b"]
backends = ["torch"]
timeout_s = 600
memory_limit_mb = 4096
repeats = 1
latency_batch_sizes = [1]
"""


def _bench(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_bench.py", *args, "--db", str(db)], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def sweep_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with one scaling run: gpt_lm_0p9m measured in torch, gpt_lm_1p5b skipped for its estimate, and a
    time-budget skip of gpt_lm_86m added as the session writes one."""
    require_backend("torch")
    folder = tmp_path_factory.mktemp("scaling")
    suite, db = folder / "scaling_test.toml", folder / "bench.sqlite"
    suite.write_text(SUITE)
    out = _bench("run", "--suite", str(suite), "-q", db=db)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    store = Store(db)
    run_id = store.latest_run_id()
    cell = Cell("gpt_lm_86m", "torch", "eager", budget="smoke", device="cpu", timing="scaling")
    budget = TimeBudget(60.0)
    store.add_record(run_id, budget.skipped_record(cell, "predicted 500 s > 60 s left; left for a bigger machine",
                                                   4096 * 2**20))
    return db


def test_the_rows_place_every_size_by_parameters_with_why_it_was_skipped(sweep_db: Path) -> None:
    store = Store(sweep_db)
    rows = scaling_rows(store.records(store.latest_run_id()))
    assert [r["workload"] for r in rows] == ["gpt_lm_0p9m", "gpt_lm_86m", "gpt_lm_1p5b"]  # by parameters
    small, middle, large = rows
    assert small["status"] == "ok" and small["params"] < 1e6 < middle["params"] < 1e9 < large["params"]
    assert small["train_tokens_per_s"] > 0 and small["infer_tokens_per_s"] > 0 and small["compile_s"] is not None
    assert small["measured_bytes"] > 0 and small["memory_estimate_ratio"] > 0
    assert (middle["status"], middle["reason"]) == ("skipped", "time budget")
    assert (large["status"], large["reason"]) == ("skipped", "memory")
    assert large["memory_estimate_bytes"] > 4096 * 2**20 and large["measured_bytes"] is None
    assert left_for_bigger_machines(rows) == {"gpt_lm_86m": "time budget", "gpt_lm_1p5b": "memory"}


def test_compare_scaling_prints_the_table_markdown_and_json(sweep_db: Path) -> None:
    table = _bench("compare", "--scaling", db=sweep_db)
    assert table.returncode == 0, table.stderr
    assert "gpt_lm_0p9m" in table.stdout and "skipped: memory" in table.stdout
    assert "left for bigger machines: gpt_lm_86m (time budget); gpt_lm_1p5b (memory)" in table.stdout
    markdown = _bench("compare", "--scaling", "--format", "markdown", db=sweep_db)
    lines = markdown.stdout.splitlines()
    assert lines[0].startswith("| size | params |") and len([x for x in lines if x.startswith("| gpt_lm")]) == 3
    assert "1.48 B" in markdown.stdout
    rows = json.loads(_bench("compare", "--scaling", "--format", "json", db=sweep_db).stdout)
    assert {r["workload"]: r["status"] for r in rows}["gpt_lm_0p9m"] == "ok"


def test_the_html_report_has_a_scaling_section_with_log_log_charts(sweep_db: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    out = _bench("report", "--html", str(page), db=sweep_db)
    assert out.returncode == 0, out.stderr
    html = page.read_text()
    section = html[html.index('<section class="card" id="scaling">'):]
    section = section[:section.index("</section>")]
    assert section.count("<svg") >= 2  # throughput and memory (MFU needs a peak FLOP/s figure)
    assert "Throughput" in section and "Peak memory" in section and "estimate" in section
    assert "Left for bigger machines: gpt_lm_86m (time budget); gpt_lm_1p5b (memory)." in section
    assert '<a href="#scaling">Scaling</a>' in html


def test_compare_scaling_on_a_run_without_a_sweep_says_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite"
    store = Store(db)
    run_id = store.create_run("smoke", {}, {})
    out = _bench("compare", "--scaling", db=db)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"run_bench: run {run_id} has no sweep cells; run one with `run_bench.py run --suite scaling`"]
