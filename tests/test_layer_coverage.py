"""`run_bench.py list --layers`: every neutral layer kind by backend, asked of the real frameworks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from backends.registry import BACKENDS
from harness.layer_probe import kinds_of
from reports.layers_table import coverage_rows, flop_rule
from suites.layers import LAYER_KINDS

REPO = Path(__file__).resolve().parent.parent


def test_rows_mark_what_a_backend_lacks_and_what_it_could_not_say() -> None:
    probed = {"torch": {"kinds": [k for k in LAYER_KINDS if k != "lstm"]}, "jax": {"error": "not installed"}}
    rows = {row["kind"]: row for row in coverage_rows(probed)}
    assert set(rows) == set(LAYER_KINDS)
    assert rows["lstm"]["backends"] == {"torch": False, "jax": None}
    assert rows["dense"]["backends"] == {"torch": True, "jax": None}
    assert all(row["reference"] for row in rows.values())


def test_flop_rules_count_matmuls_and_leave_element_wise_layers_at_zero() -> None:
    assert flop_rule("dense") == flop_rule("transformer_encoder") == flop_rule("conv2d") == "counted"
    assert flop_rule("tokens") == flop_rule("class_token") == flop_rule("layernorm") == "0 (no matmul)"
    assert flop_rule("batch_norm") == "0 (no matmul)"  # element-wise: normalisation and its statistics not counted


def test_batch_norm_is_listed_with_its_reference_in_every_backend() -> None:
    rows = {row["kind"]: row for row in coverage_rows({"torch": {"kinds": ["batch_norm"]}})}
    assert rows["batch_norm"]["layer"] == "BatchNorm" and rows["batch_norm"]["reference"]
    assert rows["batch_norm"]["backends"] == {"torch": True}


def test_each_installed_backend_builds_every_kind() -> None:
    """In-process for one backend is enough here: the CLI test below asks all three in child processes."""
    result = kinds_of("torch")
    assert set(result["kinds"]) == set(LAYER_KINDS), result


def test_list_layers_prints_every_kind_for_every_backend() -> None:
    out = subprocess.run([sys.executable, "run_bench.py", "list", "--layers"], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    for kind in LAYER_KINDS:
        row = next(line for line in lines if line.strip("│ ").startswith(kind + " "))
        assert row.count("✓") == 1 + len(BACKENDS), row  # the reference and every backend
