"""Nightly regression detection: noise-aware verdicts, an A/A pair that flags nothing, an injected slow-down flagged."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from reports import metrics
from reports.regressions import judge, noise
from store import Store
from tests.faulty_backend import ENTRY, PACE_ENV, QUEUE_ENV

REPO = Path(__file__).resolve().parent.parent
THROUGHPUT = metrics.get("train_samples_per_s")


def test_noise_takes_the_larger_of_history_and_trials():
    assert noise([100, 100, 100], [[100, 101, 99]]) == pytest.approx(0.01, abs=1e-9)
    assert noise([100, 120, 80, 100], [[100, 100.1]]) > 0.1
    # two process-level modes in the history are noise, not outliers to discard
    assert noise([0.2, 0.4, 0.2, 0.2], [[0.2, 0.201]]) > 0.3


def test_one_earlier_run_is_a_baseline_not_a_verdict():
    """With a single comparable run the cell's between-process noise is unknown: no regression can be called."""
    verdict = judge(THROUGHPUT, 500.0, [1000.0], [490.0, 500.0, 510.0, 505.0, 495.0],
                    [990.0, 1000.0, 1010.0, 1005.0, 995.0])
    assert verdict["verdict"] == "baseline" and verdict["change_rel"] == pytest.approx(-0.5)


def test_small_changes_within_noise_are_ok_and_big_ones_are_regressions():
    steady = [1000.0, 1000.0, 1000.0]
    trials_prev = [990.0, 1000.0, 1010.0, 1005.0, 995.0]
    same = judge(THROUGHPUT, 980.0, steady, [975.0, 985.0, 980.0, 990.0, 970.0], trials_prev)
    assert same["verdict"] == "ok"
    slow = judge(THROUGHPUT, 600.0, steady, [590.0, 600.0, 610.0, 605.0, 595.0], trials_prev)
    assert slow["verdict"] == "regression" and slow["change_rel"] == pytest.approx(-0.4)
    fast = judge(THROUGHPUT, 1500.0, steady, [1490.0, 1500.0, 1510.0, 1505.0, 1495.0], trials_prev)
    assert fast["verdict"] == "improvement"


def test_a_noisy_cell_gets_a_wider_threshold():
    noisy_trials = [600.0, 1400.0, 900.0, 1200.0, 700.0]
    verdict = judge(THROUGHPUT, 800.0, [1000.0, 1000.0], noisy_trials, [650.0, 1350.0, 1000.0, 1100.0, 800.0])
    assert verdict["verdict"] == "ok" and verdict["threshold_rel"] > 0.5


def test_a_very_noisy_cell_still_catches_a_tenfold_slowdown():
    """Noise of 30 % makes the threshold 120 %; as a ratio that is 'below 1/2.2 of the baseline', still reachable."""
    noisy = [700.0, 1300.0, 1000.0, 1400.0, 600.0]
    slow = judge(THROUGHPUT, 100.0, [1000.0, 1000.0], [90.0, 100.0, 110.0, 95.0, 105.0], noisy)
    assert slow["threshold_rel"] > 1.0 and slow["verdict"] == "regression"
    assert slow["regress_at"] == pytest.approx(1 / (1 + slow["threshold_rel"]) - 1)
    latency = metrics.get("latency_ms_p50")
    up = judge(latency, 10.0, [1.0, 1.0], [9.0, 10.0, 11.0, 10.5, 9.5], [0.7, 1.3, 1.0, 1.4, 0.6])
    assert up["verdict"] == "regression" and up["regress_at"] == pytest.approx(up["threshold_rel"])


def test_an_unwatched_metric_cannot_be_judged():
    with pytest.raises(ValueError, match="not watched"):
        judge(metrics.get("latency_ms_p99"), 1.0, [1.0, 1.0], [], [])


def test_overlapping_trials_are_not_a_regression_even_past_the_floor():
    verdict = judge(THROUGHPUT, 850.0, [1000.0, 1000.0], [700.0, 850.0, 1000.0], [720.0, 1000.0, 1100.0])
    assert verdict["verdict"] == "ok" and verdict["p_value"] >= 0.05


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _keyed_store(path: Path, train: list[float]) -> Store:
    """A store of finished nightly runs of one cell with the given training throughputs, one run per value."""
    store = Store(path)
    for n, value in enumerate(train):
        run_id = store.create_run("tiny", {}, {"machine_key": "m", "git_sha": f"sha{n}"}, config_key="k")
        store.add_record(run_id, {"key": "w/torch/eager/fp32", "status": "ok", "timing": {"train": {"median": value}},
                                  "cell": {"workload": "w", "backend": "torch", "mode": "eager", "precision": "fp32"}})
        store.finish_run(run_id)  # started_at has whole seconds: give each run its own night
        night = f"2026-01-{n + 1:02d}T00:00:00+00:00"
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET started_at=:night WHERE run_id=:id"), {"night": night, "id": run_id})
    return store


def test_accept_needs_a_reason_and_a_known_cell_and_records_who_when_why(tmp_path):
    db = tmp_path / "n.sqlite"
    store = _keyed_store(db, [1000.0, 1005.0, 995.0, 600.0])
    latest = store.latest_keyed_run()
    no_reason = _cli("nightly", "--db", str(db), "--accept", "w/torch/eager/fp32")
    assert no_reason.returncode == 2 and no_reason.stderr.count("\n") == 1 and "--reason" in no_reason.stderr
    unknown = _cli("nightly", "--db", str(db), "--accept", "nope", "--reason", "x")
    assert unknown.returncode == 2 and "w/torch/eager/fp32" in unknown.stderr
    done = _cli("nightly", "--db", str(db), "--accept", "all", "--reason", "new BLAS")
    assert done.returncode == 0, done.stderr
    [acc] = Store(db).acceptances()
    assert (acc["cell_key"], acc["run_id"], acc["reason"]) == ("*", latest, "new BLAS") and acc["accepted_by"]


def test_history_changes_names_the_run_and_commit_of_a_step(tmp_path):
    db = tmp_path / "n.sqlite"
    _keyed_store(db, [1000.0, 1010.0, 990.0, 1005.0, 995.0, 700.0, 705.0, 695.0, 702.0, 698.0])
    out = _cli("history", "--db", str(db), "--changes")
    assert out.returncode == 0, out.stderr
    assert "train_samples_per_s" in out.stdout and "sha5" in out.stdout and "-30" in out.stdout, out.stdout
    empty = _cli("history", "--db", str(tmp_path / "e.sqlite"), "--changes")
    assert empty.returncode == 2 and "nightly" in empty.stderr


def _nightly(db: Path, suite: Path, html: Path, pace_ms: str, queue: Path | None = None
             ) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_EXTRA_BACKENDS": ENTRY, PACE_ENV: pace_ms}
    if queue is not None:
        env[QUEUE_ENV] = str(queue)
    return subprocess.run([sys.executable, "run_bench.py", "nightly", "--suite", str(suite), "--db", str(db),
                           "--html", str(html)], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_a_a_flags_nothing_a_spell_is_not_confirmed_and_a_slowdown_is(tmp_path):
    """End to end through the nightly command, on a paced backend: every step sleeps a set time, so its speed is
    the test's, not the machine's (a real framework's A/A verdict on a shared machine would be a coin toss). A slow
    spell is injected into the first measurement only: the confirmation pass measures the cell again and the night
    is not flagged; a lasting slow-down is flagged by both measurements."""
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nbudget = "smoke"\nworkloads = ["linear_regression"]\nbackends = ["faulty"]\n')
    db = tmp_path / "bench.sqlite"
    for i in (1, 2):  # the first two runs only form each cell's baseline
        run = _nightly(db, suite, tmp_path / f"n{i}.html", "4,2")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 regression" in run.stdout and "5 baseline" in run.stdout, run.stdout[-3000:]
    same = _nightly(db, suite, tmp_path / "n3.html", "4,2")  # A/A: the same cell at the same pace, judged
    assert same.returncode == 0, same.stdout[-3000:]
    assert "0 regression" in same.stdout and "0 baseline" in same.stdout, same.stdout[-3000:]
    queue = tmp_path / "spell.txt"
    queue.write_text("24,2\n")  # the night's first process trains 6x slower; the confirmation's does not
    spell = _nightly(db, suite, tmp_path / "n4.html", "4,2", queue)
    assert spell.returncode == 0, spell.stdout[-3000:] + spell.stderr[-2000:]
    assert "confirming 1 regressed cell" in spell.stdout and "0 regression" in spell.stdout, spell.stdout[-3000:]
    assert "unconfirmed" in spell.stdout  # under load another metric may be flagged by one measurement too
    spell_html = (tmp_path / "n4.html").read_text()
    assert re.search(r"v-unconfirmed.*?train_samples_per_s.*?first pass -\d+\.\d%.*?not repeated", spell_html, re.S)
    store = Store(db)
    night4 = store.records(store.runs()[0]["run_id"])[0]
    first = {v["metric"]: v for v in night4["confirmation"]["first_pass"]}
    assert first["train_samples_per_s"]["verdict"] == "regression"  # what the spell did, kept
    assert night4["timing"]["train"]["median"] > 2 * first["train_samples_per_s"]["current"]  # stored: the 2nd
    slow = _nightly(db, suite, tmp_path / "n5.html", "24,2")  # training steps 6x slower, in both measurements
    assert slow.returncode == 1, slow.stdout[-3000:]
    assert "train_samples_per_s" in slow.stdout and "confirmed" in slow.stdout, slow.stdout[-3000:]
    html = (tmp_path / "n5.html").read_text()
    assert "regression" in html.lower() and "confirmed (first pass" in html
    assert len(store.runs()) == 5 and len({r["config_key"] for r in store.runs()}) == 1
