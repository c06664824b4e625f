"""bf16 mixed precision, the same contract in every backend: float32 outputs and weights, bf16 compute that really
changes the numbers but stays within bf16's ~3 significant digits of fp32, and training that still learns."""

from typing import Any

import numpy as np
import pytest

from backends.registry import BACKENDS, load_adapter_class
from suites.params import init_weights
from suites.registry import get_workload

CELLS = [pytest.param(name, mode, id=f"{name}-{mode}") for name, info in BACKENDS.items() for mode in info.modes]
"""Every mode of every built-in backend."""


def _batch(name: str, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    workload = get_workload(name)
    model, rng = workload.model, np.random.default_rng(0)
    if model.input_dtype == "int32":
        x = rng.integers(0, 1000, (n, *model.input_shape)).astype(np.int32)
    else:
        x = rng.random((n, *model.input_shape)).astype(np.float32)
    return x, rng.integers(0, model.output_shape[-1], n).astype(np.int32)


def _run(backend: str, mode: str, precision: str, name: str) -> tuple[Any, np.ndarray, list[float]]:
    workload = get_workload(name)
    missing = BACKENDS[backend].missing()
    if missing:
        pytest.skip(f"backend {backend!r} not installed (missing {', '.join(missing)})")
    adapter = load_adapter_class(backend)(mode, precision=precision, device="cpu")
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    x, y = _batch(name)
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    batch = adapter.put(x, y)
    losses = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(5)]
    return adapter, out, losses


@pytest.mark.parametrize("name", ["mnist_cnn", "text_transformer"])
@pytest.mark.parametrize(("backend", "mode"), CELLS)
def test_bf16_trains_and_stays_close_to_fp32(backend: str, mode: str, name: str) -> None:
    _, fp32, _ = _run(backend, mode, "fp32", name)
    adapter, bf16, losses = _run(backend, mode, "bf16", name)
    assert bf16.dtype == np.float32  # outputs come back in fp32 whatever the compute precision
    assert adapter.settings()["precision"] == "bf16"
    assert all(w.dtype == np.float32 for w in adapter.get_weights().values())  # fp32 master weights
    scale = max(1.0, float(np.abs(fp32).max()))
    assert np.abs(bf16 - fp32).max() < 5e-2 * scale  # bf16 has ~3 significant digits
    assert not np.array_equal(bf16, fp32)  # the compute really ran in bf16
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
