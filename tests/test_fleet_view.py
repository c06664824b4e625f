"""The fleet view: the same cells measured on several machines, through `compare --by machine`, the HTML report's
Machines section and `history`, on copies of one real smoke run's records (tests/fleet_data.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import run_bench
from reports.fleet import compare_machines
from reports.html import render_report
from reports.machines import machine_labels, per_machine_keys
from store import Store
from tests.fleet_data import JAX, RUN, TORCH, add_run, on_machine

KEY_A, KEY_B = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
TORCH_KEY = TORCH["key"]


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Path, str, str]:
    """A database with run A (torch and jax on host-a) and run B (torch only, on host-b: twice as fast, a GPU)."""
    db = tmp_path / "fleet.sqlite"
    store = Store(db)
    run_a = add_run(store, [on_machine(TORCH, "host-a", KEY_A), on_machine(JAX, "host-a", KEY_A)], "host-a", KEY_A, 0)
    run_b = add_run(store, [on_machine(TORCH, "host-b", KEY_B, 2.0, "NVIDIA H200", "550.54.15")], "host-b", KEY_B, 1)
    store.close()
    return db, run_a, run_b


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_bench.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _side(view: dict[str, Any], key: str, label: str) -> dict[str, Any] | None:
    return next(c for c in view["cells"] if c["key"] == key)["machines"][label]


def _metric(side: dict[str, Any], field: str) -> dict[str, Any]:
    return next(m for m in side["metrics"] if m["metric"] == field)


def test_the_twice_as_fast_machine_is_faster_with_a_ci_excluding_one(fleet, capsys) -> None:
    db, run_a, run_b = fleet
    code, out, err = _main(capsys, "compare", run_a, run_b, "--by", "machine", "--format", "json", "--db", str(db))
    assert code == 0, err
    view = json.loads(out)
    assert view["baseline"] == "host-a" and [m["label"] for m in view["machines"]] == ["host-a", "host-b"]
    train = _metric(_side(view, TORCH_KEY, "host-b"), "train_samples_per_s")
    assert train["call"] == "faster" and train["ratio"] == pytest.approx(2.0, rel=0.01) and train["ci_low"] > 1
    latency = _metric(_side(view, TORCH_KEY, "host-b"), "latency_ms_p50")
    assert latency["call"] == "faster" and latency["ci_high"] < 1
    assert _metric(_side(view, TORCH_KEY, "host-b"), "accuracy")["call"] == "same"
    assert _side(view, TORCH_KEY, "host-a")["is_baseline"] and _side(view, JAX["key"], "host-b") is None
    described = {m["label"]: m for m in view["machines"]}
    assert described["host-b"]["gpu"] == "NVIDIA H200" and described["host-b"]["driver"] == "550.54.15"


def test_the_table_has_machines_as_columns_and_a_dash_for_a_missing_cell(fleet, capsys) -> None:
    db, run_a, run_b = fleet
    code, out, err = _main(capsys, "compare", run_a, run_b, "--by", "machine", "--db", str(db))
    assert code == 0, err
    assert "train samples/s by machine" in out and "host-a" in out and "host-b" in out
    jax_line = next(line for line in out.splitlines() if JAX["key"] in line)
    assert "—" in jax_line and "faster" in out and "CPU of host-b" in out and "NVIDIA H200" in out
    code, markdown, _ = _main(capsys, "compare", run_a, run_b, "--by", "machine", "--format", "markdown",
                              "--db", str(db))
    assert code == 0 and f"| {JAX['key']} | 181,774 ±12% baseline | — |" in markdown
    assert "×2.00 [" in markdown and "] faster |" in markdown


def test_baseline_machine_turns_the_ratios_around(fleet, capsys) -> None:
    db, run_a, run_b = fleet
    code, out, err = _main(capsys, "compare", run_a, run_b, "--by", "machine", "--baseline-machine", "host-b",
                           "--format", "json", "--db", str(db))
    assert code == 0, err
    view = json.loads(out)
    assert view["baseline"] == "host-b" and view["machines"][0]["label"] == "host-b"
    slow = _metric(_side(view, TORCH_KEY, "host-a"), "train_samples_per_s")
    assert slow["call"] == "slower" and slow["ci_high"] < 1
    jax_a = _side(view, JAX["key"], "host-a")  # no host-b cell to compare with: its value, no ratio
    assert _metric(jax_a, "train_samples_per_s")["ratio"] is None and _metric(jax_a, "train_samples_per_s")["value"]


@pytest.mark.parametrize(("extra", "fragment"), [
    (("--by", "machine"), "needs records from at least two machines"),
    (("--by", "machine", "--baseline-machine", "host-z"), "needs records from at least two machines"),
    (("{b}", "--by", "machine", "--baseline-machine", "host-z"), "'host-z' is not among the machines: host-a, host-b"),
    (("{b}",), "several runs go with --by machine"),
    (("--baseline-machine", "host-a"), "--baseline-machine goes with --by machine"),
    (("{b}", "--by", "machine", "--against", "{b}"), "does not go with --against or --scaling"),
])
def test_bad_fleet_input_is_one_line_and_exit_2(fleet, capsys, extra, fragment) -> None:
    db, run_a, run_b = fleet
    code, out, err = _main(capsys, "compare", run_a, *(a.replace("{b}", run_b) for a in extra), "--db", str(db))
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1 and not out


def test_compare_of_one_run_still_compares_backends(fleet, capsys) -> None:
    db, run_a, _ = fleet
    code, out, err = _main(capsys, "compare", run_a, "--format", "json", "--db", str(db))
    assert code == 0, err
    assert {r["backend"] for r in json.loads(out)} == {"torch", "jax"}
    code, out, _ = _main(capsys, "compare", "--db", str(db))  # latest: run B, torch only
    assert code == 0 and "mnist_mlp" in out


def test_the_report_has_a_machines_section_with_both_hosts(fleet, capsys, tmp_path) -> None:
    db, run_a, run_b = fleet
    page = tmp_path / "fleet.html"
    code, out, err = _main(capsys, "report", "--run", run_a, "--run", run_b, "--by", "machine", "--html", str(page),
                           "--db", str(db))
    assert code == 0, err
    html = page.read_text()
    section = html[html.index('<section class="card" id="machines">'):]
    section = section[:section.index("</section>")]
    for text in ("host-a", "host-b", "CPU of host-b", "NVIDIA H200", "550.54.15", "23.5 GiB", "train samples/s",
                 "p50 ms", "accuracy", "—", "faster"):
        assert text in section, text
    assert '<a href="#machines">Machines</a>' in html
    plain = tmp_path / "plain.html"
    assert _main(capsys, "report", "--run", run_a, "--html", str(plain), "--db", str(db))[0] == 0
    assert 'id="machines"' not in plain.read_text() and "#machines" not in plain.read_text()
    code, _, err = _main(capsys, "report", "--run", run_a, "--run", run_b, "--html", str(plain), "--db", str(db))
    assert code == 2 and "several runs go with --by machine" in err
    code, _, err = _main(capsys, "report", "--run", run_a, "--by", "machine", "--html", str(plain), "--db", str(db))
    assert code == 2 and "two machines" in err


def test_a_report_without_machines_renders_as_before() -> None:
    """The Machines section adds nothing (not even a blank line) when it is not asked for."""
    records = [on_machine(TORCH, "host-a", KEY_A)]
    plain = render_report(RUN, records)
    view = compare_machines([(RUN, records), (RUN, [on_machine(TORCH, "host-b", KEY_B)])])
    with_view = render_report(RUN, records, machines=view)
    strip = [line for line in plain.splitlines() if not line.startswith("<footer>")]
    assert "id=\"machines\"" not in plain and len(with_view.splitlines()) > len(plain.splitlines())
    assert strip == [line for line in render_report(RUN, records, machines=None).splitlines()
                     if not line.startswith("<footer>")]


def test_history_lists_each_runs_machines_with_their_cell_counts(fleet, capsys) -> None:
    db, run_a, run_b = fleet
    store = Store(db)  # a cluster run: its cells landed on two machines
    mixed = add_run(store, [on_machine(TORCH, "host-a", KEY_A), on_machine(JAX, "host-b", KEY_B, 2.0)], "host-a",
                    KEY_A, 2)
    store.close()
    code, out, err = _main(capsys, "history", "--db", str(db))
    assert code == 0, err
    lines = {run: next(line for line in out.splitlines() if run in line) for run in (run_a, run_b, mixed)}
    assert "host-a 2" in lines[run_a] and "host-b 1" in lines[run_b]
    assert "host-a 1" in lines[mixed] and "host-b 1" in lines[mixed] and "machines" in out


def test_a_cluster_run_alone_is_compared_across_its_machines(tmp_path, capsys) -> None:
    db = tmp_path / "c.sqlite"
    store = Store(db)
    run = add_run(store, [on_machine(TORCH, "node1", KEY_A), on_machine(JAX, "node2", KEY_B)], "head", "c" * 12, 0)
    store.close()
    code, out, err = _main(capsys, "compare", run, "--by", "machine", "--format", "json", "--db", str(db))
    assert code == 0, err
    view = json.loads(out)
    assert [m["label"] for m in view["machines"]] == ["node1", "node2"]
    assert _side(view, TORCH_KEY, "node2") is None and _side(view, JAX["key"], "node1") is None


def test_two_machines_with_one_hostname_are_told_apart_by_their_key() -> None:
    pairs = [(on_machine(TORCH, "node", KEY_A), None), (on_machine(TORCH, "node", KEY_B), None),
             (on_machine(JAX, "other", "c" * 12), None)]
    assert machine_labels(pairs) == {KEY_A: f"node ({KEY_A})", KEY_B: f"node ({KEY_B})", "c" * 12: "other"}
    old = on_machine(TORCH, "x", None)  # no machine on the record: the run's
    assert machine_labels([(old, RUN)]) == {RUN["machine_key"]: RUN["provenance"]["machine"]["hostname"]}
    keys = per_machine_keys(pairs)
    assert keys[(TORCH_KEY, KEY_A)] == f"{TORCH_KEY} @ node ({KEY_A})" and keys[(JAX["key"], "c" * 12)] == JAX["key"]
