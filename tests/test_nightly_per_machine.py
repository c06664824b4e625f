"""Nightly verdicts, trend series and change points per machine: a cell's history comes from the machine that ran it
tonight, so a cluster run whose cell lands on another machine is not judged against the first machine's history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import run_bench
from commands.nightly import judged
from reports.regressions import WINDOW, history_series, verdicts
from store import Store
from tests.fleet_data import RUN, TORCH, add_run, on_machine

HEAD, KEY_A, KEY_B = "h" * 12, "aaaaaaaaaaaa", "bbbbbbbbbbbb"
"""The coordinator every nightly is started from, and the two machines its cells land on."""
CELL = TORCH["key"]


def _nights(store: Store, plan: list[tuple[str, float]]) -> list[str]:
    """One keyed nightly run per (host, speed), started from the coordinator; its torch cell ran on host."""
    keys = {"host-a": KEY_A, "host-b": KEY_B}
    return [add_run(store, [on_machine(TORCH, host, keys[host], speed)], "head", HEAD, n, config_key="k",
                    git_sha=f"sha{n:02d}") for n, (host, speed) in enumerate(plan)]


def _judge(store: Store, run_id: str) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], int]:
    return judged(store, run_id, store.run(run_id) or {}, store.records(run_id), WINDOW)


def _verdict(found: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    return next(v for v in found if v["metric"] == metric)


def test_a_slower_machine_without_history_of_its_own_is_not_a_regression(tmp_path: Path) -> None:
    store = Store(tmp_path / "n.sqlite")
    runs = _nights(store, [("host-a", 1.0)] * 4 + [("host-b", 0.5)])
    found, _, earlier = _judge(store, runs[-1])
    assert earlier == 4 and {v["verdict"] for v in found} == {"new"}, found
    # the same night judged without machines (as before): machine B's speed would read as A's regression
    past = [store.records(r) for r in runs[:-1]]
    blind = [{k: v for k, v in r.items() if k not in ("machine", "machine_key")} for r in store.records(runs[-1])]
    unaware = verdicts(blind, [[{k: v for k, v in r.items() if k != "machine_key"} for r in p] for p in past])
    assert _verdict(unaware, "train_samples_per_s")["verdict"] == "regression"


def test_a_machine_regressing_against_its_own_history_is_found(tmp_path: Path, capsys) -> None:
    store = Store(tmp_path / "n.sqlite")
    runs = _nights(store, [("host-a", 1.0), ("host-b", 0.5)] * 3 + [("host-b", 0.25), ("host-a", 1.0)])
    same = _verdict(_judge(store, runs[5])[0], "train_samples_per_s")  # B at its own level
    assert same["verdict"] == "ok" and same["history_n"] == 2
    slow, series, _ = _judge(store, runs[6])
    train = _verdict(slow, "train_samples_per_s")
    assert train["verdict"] == "regression" and train["history_n"] == 3
    assert train["baseline"] == pytest.approx(0.5 * TORCH["timing"]["train"]["median"])
    assert train["change_rel"] == pytest.approx(-0.5) and train["since_run"] == runs[6]
    assert sorted(series) == [f"{CELL} @ host-a", f"{CELL} @ host-b"] and len(series[f"{CELL} @ host-b"]) == 4
    back = _verdict(_judge(store, runs[7])[0], "train_samples_per_s")  # A again: judged against A only
    assert back["verdict"] == "ok" and back["baseline"] == pytest.approx(TORCH["timing"]["train"]["median"])
    page = tmp_path / "r.html"
    assert run_bench.main(["report", "--run", runs[6], "--html", str(page), "--db", str(store.path)]) == 0
    html = page.read_text()
    assert f"{CELL} @ host-b" in html and f"{CELL} @ host-a" in html and "v-regression" in html
    capsys.readouterr()


def test_one_machine_keeps_the_plain_cell_key_and_its_verdicts(tmp_path: Path) -> None:
    store = Store(tmp_path / "n.sqlite")
    runs = _nights(store, [("host-a", 1.0)] * 3 + [("host-a", 0.5)])
    found, series, _ = _judge(store, runs[-1])
    assert list(series) == [CELL] and _verdict(found, "train_samples_per_s")["verdict"] == "regression"
    plain = [[{k: v for k, v in r.items() if k not in ("machine", "machine_key")} for r in store.records(run)]
             for run in runs]
    assert list(history_series([(store.run(r) or {}, recs) for r, recs in zip(runs, plain, strict=True)])) == [CELL]


def test_records_without_a_machine_key_fall_back_to_their_runs() -> None:
    old = [{k: v for k, v in on_machine(TORCH, "host-a", KEY_A).items() if k != "machine_key"}]
    infos = [{**RUN, "run_id": f"r{n}", "machine_key": KEY_A} for n in range(4)]
    same = verdicts([on_machine(TORCH, "host-a", KEY_A, 0.5)], [old] * 3, infos)
    assert _verdict(same, "train_samples_per_s")["verdict"] == "regression"  # A's old records are A's history
    other = verdicts([on_machine(TORCH, "host-b", KEY_B, 0.5)], [old] * 3, infos)
    assert {v["verdict"] for v in other} == {"new"}
    failed = {**on_machine(TORCH, "host-b", KEY_B), "status": "failed"}  # a failure on B: B never ran ok
    assert verdicts([failed], [old] * 3, infos)[0]["verdict"] == "failing"


def test_history_changes_are_per_machine(tmp_path: Path, capsys) -> None:
    store = Store(tmp_path / "n.sqlite")
    _nights(store, [("host-a", 1.0)] * 6 + [("host-b", 0.5)] * 6)  # the cell moved to a slower machine: no step
    assert run_bench.main(["history", "--changes", "--db", str(store.path)]) == 0
    assert "no change points over 12 comparable nightly runs" in capsys.readouterr().out
    _nights_after = [add_run(store, [on_machine(TORCH, "host-b", KEY_B, 0.35)], "head", HEAD, 12 + n,
                             config_key="k", git_sha=f"step{n}") for n in range(6)]
    assert _nights_after and run_bench.main(["history", "--changes", "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert f"{CELL} @ host-b" in out and "step0" in out and "-30" in out and "host-a" not in out, out
