"""The padding mask in the neutral spec and the float64 reference: where it may be asked for, how it serialises, and
that padded keys get exactly no attention weight and padded positions no part of the mean (suites/padding.py)."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from suites import layers as L
from suites.errors import SpecError
from suites.models.gpt_lm import gpt_model
from suites.padding import PAD_ID, padding_mask
from suites.params import init_weights
from suites.reference import _attention, forward
from suites.reference_train import loss_and_grad
from suites.registry import get_workload
from suites.spec import ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, spec_hash

T = 7


def masked_model(causal: bool = False) -> ModelSpec:
    """Embedding + positions → a masked encoder (optionally causal too) → masked mean → dense 3."""
    return ModelSpec("masked", (T,), (
        L.Embedding(12, 8), L.LearnedPositions(T), L.TransformerEncoder(8, 2, 16, causal=causal, mask_padding=True),
        L.GlobalAveragePool1D(mask_padding=True), L.Dense(3)), input_dtype="int32")


def padded_ids() -> np.ndarray:
    """Right-padded rows of 3, 1, 7 and 5 tokens (ids 1..11), a row of padding only and one with padding inside."""
    rng = np.random.default_rng(4)
    x = rng.integers(1, 12, (6, T)).astype(np.int32)
    for row, length in enumerate((3, 1, 7, 5)):
        x[row, length:] = PAD_ID
    x[4] = PAD_ID
    x[5, 2:4] = PAD_ID
    return x


def noisy(model: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0.0, 0.1, v.shape) for k, v in init_weights(model, seed).items()}


# -- the spec --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("layers", "input_shape", "dtype", "message"), [
    ((L.Dense(4), L.TransformerEncoder(4, 2, 8, mask_padding=True), L.Flatten(), L.Dense(2)), (5, 3), "float32",
     "needs token ids, an int32 input of shape (T,)"),
    ((L.Embedding(9, 4), L.ClassToken(), L.TransformerEncoder(4, 2, 8, mask_padding=True), L.TakeToken(0)), (5,),
     "int32", "layers[1] ClassToken before it changes the 5 input positions"),
    ((L.Embedding(9, 4), L.Conv1D(4, 3), L.GlobalAveragePool1D(mask_padding=True)), (5,), "int32",
     "layers[1] Conv1D before it changes the 5 input positions"),
    ((L.Embedding(9, 4), L.MaxPool1D(2), L.GlobalAveragePool1D(mask_padding=True)), (6,), "int32",
     "layers[1] MaxPool1D before it changes"),
])
def test_a_padding_mask_needs_the_input_positions(layers, input_shape, dtype, message) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        ModelSpec("bad", input_shape, layers, input_dtype=dtype)
    assert "mask_padding" in str(caught.value) and "\n" not in str(caught.value)


def test_positions_kept_by_a_same_conv_or_a_dense_are_fine() -> None:
    ModelSpec("ok", (6,), (L.Embedding(9, 4), L.Conv1D(4, 3, padding="same"), L.Dense(4),
                           L.GlobalAveragePool1D(mask_padding=True), L.Dense(2)), input_dtype="int32")


@pytest.mark.parametrize("layer", [lambda: L.TransformerEncoder(8, 2, 16, mask_padding=1),
                                   lambda: L.GlobalAveragePool1D(mask_padding="yes")])
def test_mask_padding_is_a_bool(layer) -> None:
    with pytest.raises(SpecError, match=r"\.mask_padding: must be True or False"):
        layer()


def test_the_flag_round_trips_and_is_written_only_when_set() -> None:
    model = masked_model(causal=True)
    data = model.to_dict()
    assert data["layers"][2]["mask_padding"] is True and data["layers"][3]["mask_padding"] is True
    assert ModelSpec.from_dict(data) == model
    plain = get_workload("text_transformer").model
    assert all("mask_padding" not in layer for layer in plain.to_dict()["layers"])
    assert ModelSpec.from_dict(plain.to_dict()) == plain
    unmasked = ModelSpec("m", (T,), tuple(L.TransformerEncoder(8, 2, 16) if layer.kind == "transformer_encoder"
                                          else L.GlobalAveragePool1D() if layer.kind == "global_avgpool1d" else layer
                                          for layer in model.layers), input_dtype="int32")
    task = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.1), 8, 1)
    assert spec_hash(model, task) != spec_hash(unmasked, task)


def test_existing_hashes_are_unchanged() -> None:
    """Hashes measured at commit 12341f9, before the field existed: a spec without the flag keeps its stored hash."""
    for name, expected in (("text_transformer", "49a2aa8ae991005b"), ("vit_tiny", "a04a4fa2326151d0"),
                           ("gpt_lm", "7212f8ad7e5bae73")):
        w = get_workload(name)
        model, task = w.model, w.task
        if name == "gpt_lm":  # pinned with its first, untied head and target 0.40
            model = gpt_model("gpt_lm", 2, 64, 4, tied=False)
            task = dataclasses.replace(task, target=QualityTarget("accuracy", 0.40))
        assert spec_hash(model, task) == expected, name


def test_the_mask_is_the_pad_id_except_the_first_position() -> None:
    x = padded_ids()
    pad = padding_mask(x)
    assert not pad[:, 0].any()
    np.testing.assert_array_equal(pad[:, 1:], x[:, 1:] == PAD_ID)


# -- the reference ---------------------------------------------------------------------------------------------------

def brute_force_attention(layer: L.TransformerEncoder, w: dict, x: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """Self-attention written per batch row, head and query over the allowed keys only (no mask values at all)."""
    n, steps, _ = x.shape
    out = np.zeros(x.shape)
    for b in range(n):
        ctx = np.zeros((steps, layer.num_heads, layer.head_dim))
        for h in range(layer.num_heads):
            q = x[b] @ w["attn.query.kernel"][:, h] + w["attn.query.bias"][h]
            k = x[b] @ w["attn.key.kernel"][:, h] + w["attn.key.bias"][h]
            v = x[b] @ w["attn.value.kernel"][:, h] + w["attn.value.bias"][h]
            for t in range(steps):
                keys = [s for s in range(steps) if not pad[b, s] and (not layer.causal or s <= t)]
                scores = np.array([q[t] @ k[s] for s in keys]) / math.sqrt(layer.head_dim)
                probs = np.exp(scores - scores.max())
                ctx[t, h] = (probs / probs.sum()) @ v[keys]
        out[b] = np.einsum("thk,hkd->td", ctx, w["attn.out.kernel"]) + w["attn.out.bias"]
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_reference_attention_gives_padded_keys_no_weight(causal: bool) -> None:
    model = masked_model(causal)
    layer = model.layers[2]
    w = {k.split(".", 1)[1]: v for k, v in noisy(model).items() if k.startswith("2.")}
    x = np.random.default_rng(1).standard_normal((6, T, 8))
    pad = padding_mask(padded_ids())
    got = _attention(layer, w, x, pad)
    np.testing.assert_allclose(got, brute_force_attention(layer, w, x, pad), rtol=1e-12, atol=1e-12)
    assert np.isfinite(got).all()  # the row of padding only attends to its first position


def test_padding_changes_no_output_through_masked_layers() -> None:
    model = masked_model()
    weights, x = noisy(model), padded_ids()
    base = forward(model, weights, x)
    changed = dict(weights)
    changed["0.embeddings"] = weights["0.embeddings"].copy()
    changed["0.embeddings"][PAD_ID] += 5.0  # what a padded position holds
    changed["1.table"] = weights["1.table"] + 3.0 * (np.arange(T) >= 5)[:, None]  # positions 5, 6: padding in rows 0-1
    after = forward(model, changed, x)
    padded_late = [0, 1, 3]  # a token at position 0, padding at 5 and 6
    np.testing.assert_allclose(after[padded_late], base[padded_late], rtol=1e-12, atol=1e-12)
    assert np.abs(after[4] - base[4]).max() > 1e-3  # the row of padding only reads its first position
    unmasked = ModelSpec("plain", (T,), (model.layers[0], model.layers[1], L.TransformerEncoder(8, 2, 16),
                                         L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32")
    assert np.abs(forward(unmasked, changed, x) - forward(unmasked, weights, x))[0].max() > 1e-3


def test_the_masked_mean_averages_the_tokens_only() -> None:
    model = ModelSpec("mean", (T,), (L.Embedding(12, 3), L.GlobalAveragePool1D(mask_padding=True)),
                      input_dtype="int32")
    weights, x = noisy(model), padded_ids()
    table = weights["0.embeddings"]
    expected = [table[row[~pad]].mean(axis=0) for row, pad in zip(x, padding_mask(x), strict=True)]
    np.testing.assert_allclose(forward(model, weights, x), np.array(expected), rtol=1e-12)


def test_the_reference_gradient_never_reaches_padding() -> None:
    model = masked_model().without_dropout()
    task = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.1), 4, 1)
    x = padded_ids()[:4]  # rows of 3, 1, 7 and 5 tokens: position 0 is a token in each
    _, grads = loss_and_grad(model, task, noisy(model), x, np.array([0, 1, 2, 1], np.int32))
    assert np.all(grads["0.embeddings"][PAD_ID] == 0.0)
    assert np.abs(grads["0.embeddings"][x[x != PAD_ID]]).max() > 0.0
    assert all(np.isfinite(g).all() for g in grads.values())
