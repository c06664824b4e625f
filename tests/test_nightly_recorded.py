"""Nightly verdicts replayed over nightlies recorded from this suite's real runs (tests/data/nightly_recorded.json.gz,
written by tests/record_nightly_history.py): unchanged code flags nothing; injected steps and spikes are flagged as
the nightly promises."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from reports.regressions import process_medians, verdicts
from tests.record_nightly_history import expand

DATA = json.loads(gzip.open(Path(__file__).parent / "data" / "nightly_recorded.json.gz", "rt").read())
RUNS: list[list[dict[str, Any]]] = [[expand(r) for r in run["records"]] for run in DATA["runs"]]
INFOS = [{"run_id": run["run_id"], "provenance": {"git_sha": run["git_sha"]}} for run in DATA["runs"]]
NIGHTS = len(RUNS)
STEP_NIGHT = 4
"""The first night of an injected step or spike: 4 unchanged nights before it."""


def _judge(runs: list[list[dict[str, Any]]], night: int, accepted: tuple = ()) -> list[dict[str, Any]]:
    return verdicts(runs[night], runs[:night], INFOS[:night + 1], accepted)


def _flagged(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(v["key"], v["metric"]) for v in found if v["verdict"] == "regression"]


def _scale(node: dict[str, Any], factor: float) -> None:
    for field in ("median", "raw", "p50", "raw_ms"):
        if field in node:
            value = node[field]
            node[field] = [v * factor for v in value] if isinstance(value, list) else value * factor


def _scaled(key: str, phase: str, factor: float, nights: range) -> list[list[dict[str, Any]]]:
    """The recorded runs with `key`'s train/infer throughput or batch-1 latency scaled on `nights`, in every process
    (a change in the code moves them all)."""
    runs = copy.deepcopy(RUNS)
    for n in nights:
        [record] = [r for r in runs[n] if r["key"] == key]
        for node in [record, *record.get("repeats", [])]:
            timing = node["timing"]
            _scale(timing[phase] if phase != "latency" else timing["latency_ms"]["1"], factor)
    return runs


def test_the_recording_is_what_the_claims_need():
    assert NIGHTS >= 7 and all(len(run) == len(RUNS[0]) for run in RUNS)
    assert len({r["key"] for r in RUNS[0]}) == len(RUNS[0]) >= 24  # every workload x backend, one record per cell


def test_unchanged_code_flags_nothing_on_any_recorded_night():
    judged = 0
    for night in range(NIGHTS):
        found = _judge(RUNS, night)
        assert _flagged(found) == [], (night, [v for v in found if v["verdict"] == "regression"])
        judged += sum(v["verdict"] in ("ok", "improvement") for v in found)
    assert judged >= 5 * 100  # at least five nights judged on (almost) every watched metric


def _steady(path: tuple[str, ...], limit: float) -> list[str]:
    """Cells whose processes before STEP_NIGHT (their medians at `path`) vary less than `limit` (max/min - 1)."""
    out = []
    for key in sorted(r["key"] for r in RUNS[0]):
        records = [next(r for r in run if r["key"] == key) for run in RUNS[:STEP_NIGHT]]
        values = [process_medians(r, path) for r in records]
        flat = [v for night in values for v in night]
        if all(values) and max(flat) / min(flat) - 1 < limit:
            out.append(key)
    return out


STEADY_TRAIN = _steady(("timing", "train", "raw"), 0.15)
STEADY_LATENCY = _steady(("timing", "latency_ms", "1", "raw_ms"), 0.3)


def test_the_step_and_spike_claims_cover_the_steady_cells_measured():
    """A 30 % step is resolvable on its first night where every process stays within 15 % of the others (3 cells
    of 24 in this recording); most cells have a process at another level now and then (mnist_mlp torch at 94k or
    141k samples/s, TensorFlow mnist_cnn at 6.1k or 8.2k), and there only the halving below is promised."""
    assert len(STEADY_TRAIN) >= 3 and len(STEADY_LATENCY) >= 10, (len(STEADY_TRAIN), len(STEADY_LATENCY))


def test_a_halving_of_training_throughput_is_flagged_on_its_first_night_in_23_of_24_cells():
    """Only the first night, and not in a cell whose processes sit at two levels 1.6x apart (rowmnist_lstm torch:
    2.7k or 4.2k samples/s; its 4 baseline nights vary 23 %, so x3 that is wider than a halving). A later night can
    be missed where a baseline process sits at another level (linear_regression jax had one at 8.7M among 21M
    samples/s): the process-level test then fails and that night joins the baseline (BENCHMARKS.md §10, limits)."""
    missed = []
    for key in sorted(r["key"] for r in RUNS[0]):
        runs = _scaled(key, "train", 0.5, range(STEP_NIGHT, NIGHTS))
        flagged = _flagged(_judge(runs, STEP_NIGHT))
        assert flagged in ([], [(key, "train_samples_per_s")]), (key, flagged)  # nothing else moves
        if not flagged:
            missed.append(key)
    assert missed == ["rowmnist_lstm/torch/eager/fp32"]


@pytest.mark.parametrize("key", STEADY_TRAIN)
def test_a_lasting_30_percent_step_is_flagged_every_night_until_accepted(key):
    runs = _scaled(key, "train", 0.7, range(STEP_NIGHT, NIGHTS))
    for night in range(STEP_NIGHT):
        assert _flagged(_judge(runs, night)) == []
    for night in range(STEP_NIGHT, NIGHTS):
        found = _judge(runs, night)
        assert _flagged(found) == [(key, "train_samples_per_s")], night
        [v] = [v for v in found if v["verdict"] == "regression"]
        assert v["since_run"] == INFOS[STEP_NIGHT]["run_id"]
    accepted = ((key, INFOS[STEP_NIGHT + 1]["run_id"]),)
    for night in range(STEP_NIGHT + 1, NIGHTS):
        assert _flagged(_judge(runs, night, accepted)) == [], night


@pytest.mark.parametrize("key", STEADY_LATENCY)
def test_a_one_night_2x_latency_spike_is_flagged_once_and_cleared(key):
    runs = _scaled(key, "latency", 2.0, range(STEP_NIGHT, STEP_NIGHT + 1))
    assert _flagged(_judge(runs, STEP_NIGHT)) == [(key, "latency_ms_p50")]
    for night in range(STEP_NIGHT + 1, NIGHTS):
        assert _flagged(_judge(runs, night)) == [], night
