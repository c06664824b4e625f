"""Inference compile time: the protocol times the first predict call after build and subtracts the steady per-call
time at the same batch size, for every backend — compiled modes show a cost, and no mode goes below zero."""

from __future__ import annotations

import dataclasses

import pytest

from backends.registry import load_adapter_class
from harness.cell import PLANS
from harness.protocol import run_protocol
from suites.data.registry import load_dataset
from suites.registry import get_workload
from tests.conftest import require_backend

PLAN = dataclasses.replace(PLANS["smoke"], trials=3, latency_calls=5)
COMPILED = {("torch", "compile"), ("tensorflow", "xla"), ("tensorflow", "graph"), ("jax", "jit")}


@pytest.mark.slow
@pytest.mark.parametrize("backend,mode", [("torch", "eager"), ("torch", "compile"), ("tensorflow", "xla"),
                                          ("jax", "jit")])
def test_infer_compile_is_recorded_for_every_backend(backend: str, mode: str) -> None:
    require_backend(backend)
    workload = get_workload("mnist_mlp")
    task = dataclasses.replace(workload.task_for("smoke"), train_limit=256, eval_limit=128)
    data = load_dataset(task.dataset, task.seed, task.test_fraction).limited(task.train_limit, task.eval_limit)
    adapter = load_adapter_class(backend)(mode, "fp32", "cpu")
    result = run_protocol(adapter, workload, task, data, PLAN)
    timing = result["timing"]
    steady_call_s = timing["infer"]["batch_size"] / timing["infer"]["median"]
    assert timing["infer_first_call_s"] > 0
    assert timing["infer_compile_s"] == pytest.approx(max(0.0, timing["infer_first_call_s"] - steady_call_s))
    assert timing["infer_compile_s"] >= 0 and timing["compile_s"] >= 0
    if (backend, mode) in COMPILED:  # tracing + compiling predict dwarfs one steady call of a 100k-parameter MLP
        assert timing["infer_first_call_s"] > 3 * steady_call_s, timing
    assert result["dataset"]["n_val"] == round(0.1 * 256) and result["dataset"]["n_train"] == 256 - 26
    assert [k for k in result["curve"][0] if k.startswith("val_")] and "accuracy" not in result["curve"][0]
