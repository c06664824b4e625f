"""The float64 reference training step alone catches planted bugs: an optimizer constant (Adam beta2) and forward
bugs (LayerNorm eps, LSTM gate order, flatten order), each planted in one backend and compared with the reference
only, so a bug shared by every backend would be caught as well.

Run with -s to see the reference figures of each.
"""

from __future__ import annotations

import pytest

from harness.parity import compare_case
from tests.conftest import BACKEND_NAMES, require_backend
from tests.test_parity_mutations import MUTATIONS, baseline, case, mutated

REFERENCE_CAUGHT = {"Adam beta2 0.99 (spec 0.999)": ("ref_weights",),
                    "LayerNorm eps 1e-3 (spec 1e-5)": ("ref_weights",),
                    "LSTM gate order i,g,f,o": ("ref_losses", "ref_gradient", "ref_weights"),
                    "flatten order C,H,W": ("ref_losses", "ref_gradient", "ref_weights")}
"""Mutations the float64 reference training step must catch on its own, and the reference checks that must fail."""


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("mutation", list(REFERENCE_CAUGHT))
def test_the_reference_training_step_alone_catches_a_planted_bug(mutation: str, backend: str) -> None:
    require_backend(backend)
    name = MUTATIONS[mutation][0]
    unmutated = compare_case(case(name), {backend: {name: baseline(backend, name)}})
    assert [r["failed"] for r in unmutated] == [[]], "the unmutated backend must agree with the reference"
    (row,) = compare_case(case(name), {backend: {name: mutated(backend, mutation)}})
    assert row["a"] == "numpy-reference"
    caught = {check.split(" ")[0] for check in row["failed"]}
    print(f"\nREFERENCE | {mutation} | {backend} | {row['failed']} | loss {row['ref_loss_max_rel']:.2e} "
          f"gradient {row['ref_gradient_max_rel']:.2e} weights {row['ref_weights_adam_rel']:.2e}")
    assert set(REFERENCE_CAUGHT[mutation]) <= caught, row["failed"]
