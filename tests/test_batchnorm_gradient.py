"""BatchNorm's gradient over many values per channel matches the float64 reference in every backend, and the
parity reference check catches the inaccurate one it found.

resnet_small (suites/models/resnet_small.py) normalises 32 × 32 × 32 values per channel in its first stage. From its
parity weights, one plain SGD step's gradient (harness/parity_reference.py, ref_gradient) is compared with the
float64 reference. On 2 cores nnx.BatchNorm's one-shot moments gave a gradient off by 1.5e-2 of the largest entry in
the last block's conv kernel (on 1 core: 9.2e-5; the error comes with XLA's multi-threaded reduction); the staged
moments of backends/jax/norm_layers.py give 9.2e-5 on both, as torch and Keras. The check's power is shown with an
injected inaccuracy, which does not depend on the core count.
Run with -s to see the figures.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytest

from backends.registry import load_adapter_class
from harness.parity import REF_TOLERANCES
from harness.parity_reference import gradient_rel, reference_training
from harness.parity_worker import PARITY_SGD, ParityCase, parity_case, train_batches
from tests.conftest import require_backend

MODES = {"torch": "eager", "tensorflow": "graph", "jax": "jit"}


@functools.cache
def _case_and_reference() -> tuple[ParityCase, dict[str, Any]]:
    case = parity_case("resnet_small")
    return case, reference_training(case)


def _one_step_gradient_error(backend: str) -> tuple[float, str]:
    """The worst parameter's gradient error of one plain SGD step from the parity weights (parity_reference)."""
    case, ref = _case_and_reference()
    adapter = load_adapter_class(backend)(MODES[backend], "fp32", "cpu")
    adapter.build(case.train_model, dataclasses.replace(case.task, optimizer=PARITY_SGD), case.weights)
    (idx,) = train_batches(case, 1)
    adapter.train_step(adapter.put(case.x_train[idx], case.y_train[idx]))
    weights = {k: np.asarray(v, np.float32) for k, v in adapter.get_weights().items()}
    return gradient_rel(case, ref, {"weights_ref_sgd": weights})


@pytest.mark.parametrize("backend", list(MODES))
def test_one_step_gradient_matches_the_float64_reference(backend: str) -> None:
    require_backend(backend)
    err, worst = _one_step_gradient_error(backend)
    print(f"\n{backend}: ref_gradient {err:.2g} ({worst})")
    assert err <= REF_TOLERANCES["ref_gradient"], f"{backend}: gradient off by {err:.3g} ({worst})"


def test_inaccurate_batch_moments_fail_the_reference_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Injected, so that it holds on any core count: the moments rounded through bfloat16 (8 significant bits), an
    inaccuracy of the kind XLA's one-shot reduction showed on 2 cores, must fail the one-step gradient check."""
    require_backend("jax")
    import jax.numpy as jnp

    from backends.jax import norm_layers

    exact = norm_layers.staged_mean
    monkeypatch.setattr(norm_layers, "staged_mean",
                        lambda x, axes: exact(x, axes).astype(jnp.bfloat16).astype(x.dtype))
    err, worst = _one_step_gradient_error("jax")
    print(f"\nmoments rounded to bfloat16: ref_gradient {err:.2g} ({worst})")
    assert err > REF_TOLERANCES["ref_gradient"], f"rounded moments passed ({err:.3g}): the check is blind"
