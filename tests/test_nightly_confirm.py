"""The nightly's confirmation pass: a regressed cell is measured again, and only what both measurements flag fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harness import session
from harness.cell import Cell
from reports.regressions import confirmed, to_confirm, verdict_note
from store import Store
from suites.errors import SpecError
from suites.suite import load_suite, parse_suite
from tests.test_repeats import _fake


def _v(key: str, metric: str, verdict: str, change: float = -0.3) -> dict[str, Any]:
    return {"key": key, "metric": metric, "verdict": verdict, "current": 70.0, "baseline": 100.0,
            "change_rel": change, "p_value": 0.01, "since_run": "r1", "since_commit": "abc"}


def test_only_timing_regressions_are_measured_again() -> None:
    found = [_v("a", "train_samples_per_s", "regression"), _v("a", "infer_samples_per_s", "regression"),
             _v("b", "status", "regression"), _v("c", "train_samples_per_s", "ok")]
    assert to_confirm(found) == ["a"]  # once per cell; a crash is a result, not re-measured


def test_a_regression_stands_only_when_both_measurements_flag_it() -> None:
    first = [_v("a", "train", "regression"), _v("a", "infer", "regression"), _v("a", "p50", "ok", 0.01),
             _v("b", "train", "regression")]
    second = [_v("a", "train", "regression", -0.31), _v("a", "infer", "ok", -0.02),
              _v("a", "p50", "regression", 0.5), _v("b", "train", "regression")]
    out = {(v["key"], v["metric"]): v for v in confirmed(first, second, ["a"])}
    assert out["a", "train"]["verdict"] == "regression" and out["a", "train"]["confirmed"]
    assert out["a", "train"]["first_pass"]["change_rel"] == -0.3
    assert out["a", "infer"]["verdict"] == "unconfirmed" and "since_run" not in out["a", "infer"]
    assert out["a", "p50"]["verdict"] == "unconfirmed"  # flagged only by the second: not repeated either
    assert out["b", "train"]["verdict"] == "regression" and "first_pass" not in out["b", "train"]  # not re-measured
    assert verdict_note(out["a", "train"]) == "since run r1 / commit abc; confirmed (first pass -30.0%)"
    assert verdict_note(out["a", "infer"]) == "first pass -30.0% (regression), not repeated"
    assert verdict_note(out["a", "p50"]).endswith("flagged only when measured again")


def test_a_second_measurement_replaces_the_record_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch, [100.0, 100.0, 100.0, 50.0, 52.0, 48.0])
    store, cell, other = Store(tmp_path / "r.sqlite"), Cell("mnist_mlp", "torch", "eager"), Cell(
        "mnist_mlp", "tensorflow", "eager")
    run_id = store.create_run("t", {}, {})
    session.execute(store, run_id, [cell], 60, isolation="spawn", repeats=3)
    session.execute(store, run_id, [cell, other], 60, isolation="spawn", repeats=3,
                    again={cell.key: {"confirmation": {"delay_s": 0}}})
    assert len(calls) == 9  # the cell afresh, whatever the run had, and the other too (it was named)
    recs = {r["key"]: r for r in store.records(run_id)}
    assert recs[cell.key]["timing"]["train"]["median"] == pytest.approx(50.0)
    assert recs[cell.key]["confirmation"] == {"delay_s": 0} and "confirmation" not in recs[other.key]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM cells WHERE cell_key=:key"), {"key": cell.key}).scalar_one()
    assert rows == 3 + 1  # the first measurement's three processes, then the second's once it is whole


def test_the_nightly_suite_confirms_after_a_delay_and_bad_keys_are_one_line(tmp_path: Path) -> None:
    nightly = load_suite("nightly")
    assert nightly.confirm and nightly.confirm_delay_s == 120
    for text, key in (("confirm = 1", "confirm"), ("confirm_delay_s = -1", "confirm_delay_s"),
                      ('confirm_delay_s = "2m"', "confirm_delay_s")):
        bad = tmp_path / "bad.toml"
        bad.write_text(f'budget = "smoke"\nworkloads = ["mnist_mlp"]\n{text}\n')
        with pytest.raises(SpecError, match=f"bad.toml: '{key}'"):
            parse_suite(bad)
