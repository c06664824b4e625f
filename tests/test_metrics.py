"""The one metric table (reports.metrics): consistent entries, and every view reads it — a throw-away entry added
with monkeypatch shows up in compare, the tables, the nightly verdicts, the HTML report and its charts."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from common.units import mib
from reports import metrics, palette
from reports.compare import compare_backends, compare_runs
from reports.compare_view import backend_markdown, backend_tables, runs_table
from reports.flat import FIELDS, dig, flatten
from reports.formats import FIXED2, MIB, SIG3
from reports.html_sections import nightly
from reports.html_workloads import table as html_table
from reports.metrics import COMPARE, RUNS, VIEWS, Metric
from reports.plots import latency_chart
from reports.regressions import history_series, verdicts
from reports.table import comparison_table

WALL = Metric("wall_s", "wall s", "wall seconds", "s", False, FIXED2, SIG3, floor=0.5, compare=True, views=VIEWS,
              chart=("latency", "wall"))
"""A throw-away metric: an existing flat field no entry uses yet, watched, compared, shown everywhere."""


def _record(backend: str, train: float = 1000.0, wall: float = 10.0, accuracy: float = 0.9) -> dict[str, Any]:
    """A small ok cell record with what flatten() and the views read."""
    return {
        "cell": {"workload": "w", "backend": backend, "mode": "m", "precision": "fp32"},
        "key": f"w/{backend}/m/fp32", "status": "ok", "error": None, "wall_s": wall,
        "timing": {"compile_s": 0.5, "infer_compile_s": 0.25,
                   "train": {"median": train, "ci_low": train * 0.9, "ci_high": train * 1.1,
                             "raw": [train * 0.95, train, train * 1.05, train * 0.98, train * 1.02]},
                   "infer": {"median": 2 * train, "ci_low": 1.8 * train, "ci_high": 2.2 * train,
                             "raw": [2 * train] * 5},
                   "latency_ms": {"1": {"p50": 0.1, "p90": 0.2, "p99": 0.3, "raw_ms": [0.1, 0.11, 0.09]}}},
        "quality": {"accuracy": accuracy, "f1_macro": accuracy - 0.1},
        "memory": {"host_peak_bytes": 100 * 2**20, "device_peak_bytes": None, "device_peak_reason": "CPU run"},
    }


def _text(*tables: Any) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    for t in tables:
        console.print(t)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def with_wall(monkeypatch: pytest.MonkeyPatch) -> Metric:
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, WALL))
    return WALL


# --- the table itself -------------------------------------------------------------------------------------------


def test_no_two_entries_share_a_field() -> None:
    fields = [m.field for m in metrics.METRICS]
    assert len(fields) == len(set(fields))


def test_every_field_is_a_flat_field() -> None:
    for m in metrics.METRICS:
        assert m.field in FIELDS, f"{m.field} is not a reports/flat.py FIELD"
        if m.reason:
            assert m.reason in FIELDS, m.reason
        if m.ci_in:
            assert {f"{m.field}_ci_low", f"{m.field}_ci_high"} <= set(FIELDS), m.field


@pytest.mark.parametrize("field,higher", [
    ("train_samples_per_s", True), ("infer_samples_per_s", True), ("latency_ms_p50", False),
    ("latency_ms_p90", False), ("latency_ms_p99", False), ("compile_s", False), ("infer_compile_s", False),
    ("host_peak_bytes", False),
    ("device_peak_bytes", False), ("accuracy", True), ("f1_macro", True), ("r2", True), ("mse", False),
    ("mfu", True),
])
def test_directions(field: str, higher: bool) -> None:
    metric = metrics.get(field)
    assert metric is not None and metric.higher_is_better is higher


def test_directions_follow_units() -> None:
    """Rates and scores up, times and sizes down: a new entry that breaks the pattern is probably a typo."""
    up, down = {"samples/s", "tokens/s", "score"}, {"ms", "s", "bytes", "target²", "perplexity"}
    for m in metrics.METRICS:
        assert m.unit in up | down | {"fraction"}, f"{m.field}: unit {m.unit!r}"
        if m.unit in up | down:
            assert m.higher_is_better is (m.unit in up), m.field


def test_raw_paths_lead_to_trials_in_a_record() -> None:
    record = _record("torch")
    for m in metrics.METRICS:
        if m.raw:
            assert isinstance(dig(record, *m.raw), list), m.field


def test_compared_and_watched_sets() -> None:
    assert [m.field for m in metrics.watched()] == ["train_samples_per_s", "infer_samples_per_s", "latency_ms_p50",
                                                    "host_peak_bytes", "perplexity", "accuracy", "r2"]
    assert {m.field for m in metrics.watched() if m.absolute} == {"accuracy", "r2"}
    assert [m.field for m in metrics.compared()] == [
        "train_samples_per_s", "infer_samples_per_s", "latency_ms_p50", "latency_ms_p99", "host_peak_bytes",
        "device_peak_bytes", "perplexity", "accuracy", "f1_macro", "r2", "mfu"]


def test_each_view_keeps_its_columns() -> None:
    assert [m.header for m in metrics.shown(COMPARE)] == [
        "train/s", "infer/s", "p50 ms", "p99 ms", "host MiB", "dev MiB", "ppl", "acc", "F1", "R²", "MFU"]
    assert [m.header for m in metrics.shown(RUNS)] == ["train/s", "infer/s", "p50 ms", "p99 ms", "host MiB", "ppl",
                                                      "acc", "F1"]
    header = _text(comparison_table([flatten(_record("torch"))], "t")).splitlines()[2]
    assert [h.strip() for h in header.strip("┃│ ").split("┃")] == [
        "workload", "backend", "mode", "status", "train/s", "±CI", "infer/s", "p50 ms", "compile s", "infer comp s",
        "acc", "F1", "R²", "host MiB"]
    assert html_table([_record("torch")], palette.Palette())["headers"] == [
        "cell", "train samples/s", "infer samples/s", "p50 ms", "p99 ms", "train compile s",
        "infer compile s", "host MiB",
        "host baseline MiB", "host model MiB", "device MiB", "accuracy", "F1 macro", "MFU"]
    regression = _record("torch")
    regression["quality"] = {"r2": 0.5, "mse": 0.1}
    assert html_table([regression], palette.Palette())["headers"][-3:] == ["R²", "MSE", "MFU"]


def test_a_bad_entry_names_the_field_and_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="'wall_s'.*compare"):
        Metric("wall_s", "wall s", "wall s", "s", False, FIXED2, SIG3, views=(COMPARE,))
    with pytest.raises(ValueError, match="'wall_s'.*views='nowhere'.*allowed"):
        Metric("wall_s", "wall s", "wall s", "s", False, FIXED2, SIG3, views=("nowhere",))
    with pytest.raises(ValueError, match="absolute"):
        Metric("wall_s", "wall s", "wall s", "s", False, FIXED2, SIG3, absolute=True)


def test_bytes_are_written_in_mib_by_one_formatter() -> None:
    host = metrics.get("host_peak_bytes")
    assert host is not None and host.fmt is MIB and host.page is MIB
    assert MIB(3 * 2**20) == "3" and MIB(3 * 2**20, with_unit=True) == "3 MiB" and MIB(None) == "–"
    assert MIB.scale(5 * 2**20) == mib(5 * 2**20) == 5.0


# --- every view reads the table ---------------------------------------------------------------------------------


def test_a_new_metric_is_compared_across_backends(with_wall: Metric) -> None:
    rows = compare_backends([_record("torch", wall=10.0), _record("jax", wall=20.0)], "torch")
    jax = next(r for r in rows if r["backend"] == "jax")
    wall = next(m for m in jax["metrics"] if m["metric"] == "wall_s")
    assert wall["ratio"] == pytest.approx(2.0) and wall["better"] is False  # lower is better
    for text in (_text(*backend_tables(rows, "torch")), backend_markdown(rows, "torch")):
        assert "wall s" in text and "20.00" in text


def test_a_new_metric_is_compared_between_runs(with_wall: Metric) -> None:
    rows = compare_runs([_record("torch", wall=5.0)], [_record("torch", wall=10.0)])
    wall = next(m for m in rows[0]["metrics"] if m["metric"] == "wall_s")
    assert wall["ratio"] == pytest.approx(0.5) and wall["better"] is True
    assert "wall s" in _text(runs_table(rows, "new", "old"))


def test_a_new_metric_shows_in_the_console_run_table(with_wall: Metric) -> None:
    text = _text(comparison_table([flatten(_record("torch", wall=12.345))], "t"))
    assert "wall s" in text and "12.35" in text


def test_a_new_metric_gets_nightly_verdicts(with_wall: Metric) -> None:
    history = [[_record("torch", wall=10.0)], [_record("torch", wall=10.0)]]
    found = verdicts([_record("torch", wall=30.0)], history)
    wall = next(v for v in found if v["metric"] == "wall_s")
    assert wall["verdict"] == "regression" and wall["change_rel"] == pytest.approx(2.0)
    fine = next(v for v in verdicts([_record("torch", wall=11.0)], history) if v["metric"] == "wall_s")
    assert fine["verdict"] == "ok"  # within the 50 % floor
    series = history_series([({"run_id": "a", "started_at": None}, history[0])])
    assert series["w/torch/m/fp32"][0]["wall_s"] == 10.0


def test_a_new_metric_shows_in_the_html_report(with_wall: Metric) -> None:
    table = html_table([_record("torch", wall=1.5)], palette.Palette())
    assert "wall seconds" in table["headers"]
    column = table["headers"].index("wall seconds") - 1
    assert table["rows"][0]["cells"][column]["text"] == "1.5"
    section = nightly({"run_id": "r"}, [{"key": "k", "metric": "wall_s", "current": 30.0, "baseline": 10.0,
                                         "change_rel": 2.0, "regress_at": 0.5, "verdict": "regression",
                                         "p_value": None}], None)
    assert section is not None and section["rows"][0]["current"] == "30" and section["rows"][0]["change"] == "+200.0 %"


def test_a_new_metric_is_drawn_in_its_chart_family(with_wall: Metric) -> None:
    svg = latency_chart([_record("torch"), _record("jax")])
    assert svg is not None and ">wall<" in svg  # the bar group's tick label


def test_a_removed_metric_leaves_every_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "METRICS", tuple(m for m in metrics.METRICS if m.field != "f1_macro"))
    rows = compare_backends([_record("torch"), _record("jax")], "torch")
    assert all(m["metric"] != "f1_macro" for r in rows for m in r["metrics"])
    assert "F1" not in _text(comparison_table([flatten(_record("torch"))], "t"))
    assert "F1 macro" not in html_table([_record("torch")], palette.Palette())["headers"]


def test_the_html_table_marks_why_a_value_is_missing() -> None:
    table = html_table([_record("torch")], palette.Palette())
    device = table["rows"][0]["cells"][table["headers"].index("device MiB") - 1]
    assert device["text"] == "n/a" and table["notes"][int(device["note"]) - 1] == "CPU run"


# --- backend order and colours ----------------------------------------------------------------------------------


def test_backend_order_comes_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(palette, "all_backends", lambda: {"jax": None, "torch": None})
    assert sorted(["torch", "zeta", "jax", "alpha"], key=palette.backend_key) == ["jax", "torch", "alpha", "zeta"]
    page = palette.Palette(["zeta", "torch", "alpha"])
    assert page.order == ("jax", "torch", "alpha", "zeta")
    assert [page.colour(b) for b in page.order] == list(palette.PALETTE[:4])


def test_builtin_backends_keep_their_colours() -> None:
    page = palette.Palette(["torch", "tensorflow", "jax", "old_framework"])
    assert [page.colour(b) for b in ("torch", "tensorflow", "jax")] == ["#4e79a7", "#f28e2b", "#b07aa1"]
    assert page.colour("old_framework") not in {page.colour(b) for b in ("torch", "tensorflow", "jax")}
