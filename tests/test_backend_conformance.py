"""One conformance suite for every backend in backends.registry: the same models, weights and checks for each.

The model set covers every neutral layer kind; its weights are the seeded initialisation plus noise, so biases are
non-zero and norm scales non-unit and a swapped bias or norm parameter shows in the outputs.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.base import Unsupported
from backends.registry import BACKENDS, EXTRA_ENV, backend_names, get_backend, load_adapter_class
from suites import layers as L
from suites.flops import forward_flops
from suites.params import init_weights, layer_param_shapes, param_count
from suites.reference import forward
from suites.registry import OFFLINE_WORKLOADS, get_workload
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

REPO = Path(__file__).resolve().parent.parent
BACKEND_NAMES = tuple(BACKENDS)
TASK = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.05, momentum=0.9), batch_size=8, epochs=1)

ONLINE_MODELS = ("keras_cnn_cifar10", "resnet_small_cifar10")
"""Workloads whose data needs the network: their models run here on synthetic batches of their shapes."""

CONFORMANCE: tuple[ModelSpec, ...] = (
    ModelSpec("dense", (6,), (L.Dense(5, "tanh"), L.Dense(3, use_bias=False))),
    ModelSpec("conv2d", (9, 8, 3), (L.Conv2D(4, 3, padding="same", activation="gelu"),
                                    L.Conv2D(5, 3, stride=2, activation="sigmoid"), L.Flatten(), L.Dense(3))),
    ModelSpec("maxpool2d", (9, 9, 2), (L.Conv2D(3, 2), L.MaxPool2D(3, stride=2), L.Dense(4), L.Flatten(), L.Dense(3))),
    ModelSpec("maxpool2d_input", (7, 7, 2), (L.MaxPool2D(2), L.MaxPool2D(2, stride=1), L.Flatten(), L.Dense(3))),
    ModelSpec("flatten", (5, 4, 3), (L.Conv2D(4, 1), L.Flatten(), L.LayerNorm(), L.Dense(3))),
    ModelSpec("flatten_input", (3, 4, 2), (L.Flatten(), L.Dense(3))),
    ModelSpec("dropout", (7,), (L.Dense(6, "relu"), L.Dropout(0.5), L.Dense(3))),
    ModelSpec("activation", (6, 6, 2), (L.Conv2D(3, 3), L.Activation("relu"), L.Activation("tanh"),
                                        L.Activation("gelu"), L.Activation("sigmoid"), L.Activation("gelu_tanh"),
                                        L.Flatten(), L.Dense(3))),
    ModelSpec("embedding", (7,), (L.Embedding(30, 6), L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32"),
    ModelSpec("embedding_flatten", (5,), (L.Embedding(11, 4), L.Flatten(), L.Dense(3)), input_dtype="int32"),
    ModelSpec("conv1d", (12, 4), (L.Conv1D(8, 3, padding="same", activation="relu"), L.Conv1D(6, 2, stride=2),
                                  L.Flatten(), L.Dense(3))),
    ModelSpec("maxpool1d", (11, 3), (L.MaxPool1D(2), L.Conv1D(4, 2), L.MaxPool1D(3, stride=1), L.Flatten(),
                                     L.Dense(3))),
    ModelSpec("global_maxpool1d", (9,), (L.Embedding(30, 8), L.Conv1D(6, 3, activation="relu"), L.GlobalMaxPool1D(),
                                         L.Dense(3)), input_dtype="int32"),
    ModelSpec("global_avgpool1d", (9, 5), (L.Dense(4), L.GlobalAveragePool1D(), L.Dense(3))),
    ModelSpec("lstm", (10, 6), (L.LSTM(5, return_sequences=True), L.LSTM(4, num_layers=2), L.Dense(3))),
    ModelSpec("layernorm", (8, 6), (L.LayerNorm(1e-3), L.Conv1D(4, 3), L.GlobalMaxPool1D(), L.Dense(3))),
    ModelSpec("positional_encoding", (10,), (L.Embedding(30, 8), L.PositionalEncoding(16, scale_input=False),
                                             L.PositionalEncoding(10), L.GlobalAveragePool1D(), L.Dense(3)),
              input_dtype="int32"),
    ModelSpec("positional_encoding_float", (5, 4), (L.PositionalEncoding(8), L.Flatten(), L.Dense(3))),
    ModelSpec("transformer_encoder", (10,), (
        L.Embedding(30, 8), L.TransformerEncoder(8, 2, 16, dropout=0.2, activation="gelu", norm_first=True,
                                                 layer_norm_eps=1e-6),
        L.TransformerEncoder(8, 4, 12), L.GlobalMaxPool1D(), L.Dense(3)), input_dtype="int32"),
    ModelSpec("tokens", (4, 6, 2), (L.Conv2D(3, 2, stride=2), L.Tokens(), L.LayerNorm(), L.Dense(4), L.Flatten(),
                                    L.Dense(3))),
    ModelSpec("tokens_input", (3, 2, 4), (L.Tokens(), L.Dense(5), L.GlobalMaxPool1D(), L.Dense(3))),
    ModelSpec("class_token", (5, 4), (L.Dense(6), L.ClassToken(), L.LearnedPositions(8), L.TakeToken(0),
                                      L.Dense(3))),
    ModelSpec("learned_positions", (7,), (
        L.Embedding(20, 6), L.LearnedPositions(9),
        L.TransformerEncoder(6, 2, 8, dropout=0.1, activation="gelu_tanh", norm_first=True), L.TakeToken(2),
        L.Dense(3)), input_dtype="int32"),
    ModelSpec("take_token", (6, 5), (L.TakeToken(5), L.Dense(3))),
    ModelSpec("tied_head", (6,), (  # GPT-2's tied LM head: logits at every position against the embedding table
        L.Embedding(20, 8), L.LearnedPositions(6), L.TransformerEncoder(8, 2, 12, activation="gelu_tanh",
                                                                        norm_first=True, causal=True),
        L.LayerNorm(), L.TiedHead(20)), input_dtype="int32"),
    ModelSpec("tied_head_bias", (5,), (L.Embedding(7, 4), L.GlobalAveragePool1D(), L.Dense(4, "tanh"),
                                       L.TiedHead(7, use_bias=True)), input_dtype="int32"),
    ModelSpec("transformer_causal", (6,), (
        L.Embedding(20, 8), L.LearnedPositions(6),
        L.TransformerEncoder(8, 2, 12, dropout=0.1, activation="gelu_tanh", norm_first=True, causal=True),
        L.TransformerEncoder(8, 4, 12, causal=True), L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32"),
    ModelSpec("padding_mask", (7,), (  # ids below 4: a quarter padding, anywhere; a plain mean reads padded queries
        L.Embedding(4, 8), L.LearnedPositions(7),
        L.TransformerEncoder(8, 2, 12, dropout=0.1, activation="gelu", norm_first=True, mask_padding=True),
        L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32"),
    ModelSpec("padding_mask_causal", (7,), (
        L.Embedding(4, 8), L.TransformerEncoder(8, 2, 12, causal=True, mask_padding=True),
        L.GlobalAveragePool1D(mask_padding=True), L.Dense(3)), input_dtype="int32"),
    ModelSpec("batch_norm", (6, 5, 3), (L.Conv2D(4, 3, padding="same"), L.BatchNorm(momentum=0.2, eps=1e-3),
                                        L.Activation("relu"), L.MaxPool2D(2), L.Flatten(), L.Dense(3))),
    ModelSpec("batch_norm_1d", (7, 4), (L.BatchNorm(momentum=0.3), L.Conv1D(5, 3), L.BatchNorm(), L.Flatten(),
                                        L.Dense(6), L.BatchNorm(momentum=0.05, eps=1e-4), L.Dense(3))),
    ModelSpec("batch_norm_input_2d", (4, 5, 2), (L.BatchNorm(), L.Flatten(), L.Dense(3))),
    ModelSpec("residual", (6, 5, 3), (  # identity shortcut; a BatchNorm and a layout-free activation inside
        L.Conv2D(4, 3, padding="same", use_bias=False),
        L.Residual((L.Conv2D(4, 3, padding="same", activation="tanh"), L.BatchNorm(momentum=0.2, eps=1e-3),
                    L.Activation("relu"), L.Conv2D(4, 1))),
        L.Activation("relu"), L.Flatten(), L.Dense(3))),
    ModelSpec("residual_projection", (7, 6, 3), (  # odd sizes: the stride-2 body and the 1x1 projection must agree
        L.Residual((L.ZeroPad2D(1), L.Conv2D(5, 3, stride=2, use_bias=False), L.BatchNorm(momentum=0.3),
                    L.Activation("relu"), L.Conv2D(5, 3, padding="same", use_bias=False), L.BatchNorm(eps=1e-3)),
                   projection=True, stride=2, norm_momentum=0.2, norm_eps=1e-4),
        L.Residual((L.Conv2D(5, 3, padding="same"), L.Dropout(0.3))),
        L.Activation("relu"), L.GlobalAveragePool2D(), L.Dense(3))),
    ModelSpec("zero_pad2d", (5, 4, 2), (L.ZeroPad2D(2), L.Conv2D(3, 3, stride=2), L.ZeroPad2D(1), L.Flatten(),
                                        L.Dense(3))),
    ModelSpec("global_avgpool2d", (5, 4, 2), (L.GlobalAveragePool2D(), L.Dense(3))),
)
"""Every layer kind at least once; BatchNorm 2-D after a conv and on the input (H, W, C), 1-D on a (L, C) input, after a
conv1d and on (C,) features, with non-default momenta and eps (its running statistics perturbed like any weight)."""

MODULES = {"__init__": ("NAME", "ORDER", "MODES", "REQUIRES", "VERSIONED", "ADAPTER"),
           "layers": ("activation", "LAYER_BUILDERS", "build_layer", "build_model", "NeutralModel"),
           "weights": ("WEIGHT_MAPS", "write_weights", "read_weights", "trainable_count"),
           "optim": ("make_optimizer", "make_loss"),
           "probes": ("counted_flops", "peak_matmul", "set_tf32", "pci_bus_id"),
           "adapter": ()}
"""The modules every backend folder has, and the names each defines (the adapter module defines the Adapter)."""

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "flax", "optax")
NON_DEFAULT_MODES = [pytest.param(name, mode, id=f"{name}-{mode}")
                     for name, info in BACKENDS.items() for mode in info.modes[1:]]
ALL_MODES = [pytest.param(name, mode, id=f"{name}-{mode}") for name, info in BACKENDS.items() for mode in info.modes]


def neutral_kinds() -> list[str]:
    """Every layer kind suites/layers.py defines: its LAYER_TYPES and every class there with a `kind` ClassVar."""
    classes = {cls.kind for cls in vars(L).values() if isinstance(getattr(cls, "kind", None), str)}
    return sorted(classes | set(L.LAYER_TYPES))


def parametrised_kinds() -> list[str]:
    """Kinds that own weights in the conformance models."""
    return sorted({layer.kind for model in CONFORMANCE
                   for layer, (in_shape, _) in zip(model.layers, model.layer_shapes(), strict=True)
                   if layer_param_shapes(layer, in_shape)})


def package_dir(name: str) -> Path:
    """The folder of a built-in backend (from its adapter path, backends.<folder>.adapter:Class)."""
    return REPO.joinpath(*get_backend(name).adapter_path.split(":")[0].split(".")[:-1])


def table_gaps(path: str, table_name: str, table: dict[str, Any], kinds: list[str]) -> list[str]:
    """'<path>: <TABLE> lacks '<kind>'' for every kind the table has no entry for."""
    return [f"{path}: {table_name} lacks {kind!r}" for kind in kinds if kind not in table]


def losses(adapter: Any, batch: Any, steps: int) -> list[float]:
    return [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(steps)]


def assert_matches_reference(adapter: Any, model: ModelSpec, weights: dict, x: np.ndarray) -> None:
    """predict equals the float64 reference within 1e-4 * max(1, max|ref|)."""
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    ref = forward(model, weights, x)
    assert out.shape == ref.shape == (len(x), *model.output_shape)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    assert np.abs(out - ref).max() <= tol, f"{adapter.name} {model.name}: max |out - ref| {np.abs(out - ref).max():.3g}"


def assert_round_trip(adapter: Any, weights: dict) -> None:
    """get_weights returns exactly what set_weights loaded, as float32 arrays."""
    got = adapter.get_weights()
    assert sorted(got) == sorted(weights)
    for name, value in weights.items():
        assert got[name].dtype == np.float32 and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    logits = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


# -- the registry and the module contract (no framework needed) ------------------------------------------------

def test_registry_discovers_the_backend_packages_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BACKEND_NAMES[:3] == ("torch", "tensorflow", "jax")
    for name, info in BACKENDS.items():
        package = importlib.import_module(".".join(info.adapter_path.split(":")[0].split(".")[:-1]))
        assert (package.NAME, package.MODES, package.REQUIRES, package.ADAPTER) == \
            (name, info.modes, info.requires, info.adapter_path)
        assert info.default_mode == info.modes[0]
    monkeypatch.setenv(EXTRA_ENV, "faulty=tests.faulty_backend:FaultyAdapter:fine|raise")
    assert backend_names() == (*BACKENDS, "faulty") and get_backend("faulty").default_mode == "fine"


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_backend_folder_has_the_same_modules_and_names(name: str) -> None:
    folder = package_dir(name)
    for module, names in MODULES.items():
        path = folder / f"{module}.py"
        where = path.relative_to(REPO).as_posix()
        assert path.exists(), f"{where} is missing"
        source = path.read_text()
        assert len(source.splitlines()) < 300, f"{where} has {len(source.splitlines())} lines (split it below 300)"
        tree = ast.parse(source)
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
        targets = [t for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                   for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
        defined |= {t.id for t in targets if isinstance(t, ast.Name)}
        for wanted in names:
            assert wanted in defined, f"{where} lacks {wanted}"
        if module == "__init__":
            imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not imports, f"{where} imports something: a backend declares itself without its framework"


def test_every_kind_has_a_conformance_model() -> None:
    covered = {layer.kind for model in CONFORMANCE for layer in model.layers}
    assert sorted(set(neutral_kinds()) - covered) == [], "add a CONFORMANCE model for these layer kinds"


def test_conformance_weights_have_nonzero_biases_and_nonunit_scales(make_weights: Any) -> None:
    for model in CONFORMANCE:
        for name, value in make_weights(model).items():
            if name.endswith("bias"):
                assert np.all(value != 0), name
            if name.endswith("scale"):
                assert np.all(value != 1), name
            if name.endswith("running_mean"):
                assert np.all(value != 0), name
            if name.endswith("running_var"):
                assert np.all(value != 1) and np.all(value > 0), name


def test_table_gaps_name_the_file_the_table_and_the_kind() -> None:
    assert table_gaps("backends/jax/layers.py", "LAYER_BUILDERS", {"dense": None}, ["conv1d", "dense"]) == \
        ["backends/jax/layers.py: LAYER_BUILDERS lacks 'conv1d'"]


# -- every backend: tables, build, weights, outputs ------------------------------------------------------------

def test_tables_cover_every_kind(backend: str) -> None:
    """Every kind has a builder; a weight map is needed only where the native layout differs (round trips prove it)."""
    folder = package_dir(backend).relative_to(REPO).as_posix()
    layers = importlib.import_module(f"{folder.replace('/', '.')}.layers")
    assert table_gaps(f"{folder}/layers.py", "LAYER_BUILDERS", layers.LAYER_BUILDERS, neutral_kinds()) == []


UNMAPPED = {"torch": "layernorm", "tensorflow": "layernorm", "jax": "embedding"}
"""A kind whose native weights differ from the neutral layout in each backend (torch weight, Keras gamma, NNX
embedding): without its WEIGHT_MAPS entry, the layer cannot load weights."""


@pytest.mark.parametrize("table", ["layers.LAYER_BUILDERS", "weights.WEIGHT_MAPS"])
def test_a_missing_kind_is_unsupported_not_a_crash(backend: str, make_adapter: Any, monkeypatch: pytest.MonkeyPatch,
                                                    table: str) -> None:
    module, name = table.split(".")
    kind = "conv1d" if module == "layers" else UNMAPPED[backend]
    package = package_dir(backend).relative_to(REPO).as_posix().replace("/", ".")
    monkeypatch.delitem(getattr(importlib.import_module(f"{package}.{module}"), name), kind)
    spec = next(m for m in CONFORMANCE if m.name == kind)
    with pytest.raises(Unsupported, match=f"^{backend} lacks .*'{kind}'"):
        make_adapter(spec, TASK)


def test_a_kind_in_the_neutral_layout_needs_no_weight_map(backend: str, make_adapter: Any, make_weights: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' and NNX's Dense keep kernel (in, out) and bias: without a map they still load, by name; torch's Linear
    keeps (out, in) `weight`, so there the missing map is named."""
    package = package_dir(backend).relative_to(REPO).as_posix().replace("/", ".")
    monkeypatch.delitem(importlib.import_module(f"{package}.weights").WEIGHT_MAPS, "dense")
    spec = next(m for m in CONFORMANCE if m.name == "dense")
    if backend == "torch":
        with pytest.raises(Unsupported, match="torch lacks weight map for layer 'dense'"):
            make_adapter(spec, TASK)
        return
    adapter, weights = make_adapter(spec, TASK), make_weights(spec)
    adapter.set_weights(weights)
    assert_round_trip(adapter, weights)


@pytest.mark.parametrize("model", CONFORMANCE, ids=lambda m: m.name)
def test_layer_builds_round_trips_and_matches_reference(make_adapter: Any, make_weights: Any, make_batch: Any,
                                                        model: ModelSpec) -> None:
    weights = make_weights(model)
    adapter = make_adapter(model, TASK, weights)
    assert adapter.trainable_param_count() == param_count(model)
    assert_round_trip(adapter, weights)
    x, y = make_batch(model, TASK, 8)
    assert_matches_reference(adapter, model, weights, x)
    loss = adapter.to_numpy(adapter.train_step(adapter.put(x, y)))
    assert loss.shape == () and np.isfinite(loss)


@pytest.mark.parametrize("name", (*OFFLINE_WORKLOADS, *ONLINE_MODELS))
def test_workload(make_adapter: Any, make_weights: Any, make_batch: Any, name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = make_weights(model)
    adapter = make_adapter(model, task, weights)
    assert adapter.trainable_param_count() == param_count(model)
    assert_round_trip(adapter, weights)
    assert_matches_reference(adapter, model, weights, make_batch(model, task, 6)[0])
    plain, start = model.without_dropout(), init_weights(model, 0)  # deterministic steps from the shared init
    adapter = make_adapter(plain, task, start)
    batch = adapter.put(*make_batch(plain, task, 16, seed=5))
    first = losses(adapter, batch, 12)
    assert all(np.isfinite(first)) and first[-1] < first[0], first
    adapter.set_weights(start)  # weights and optimizer state start again: the steps repeat
    assert_round_trip(adapter, start)
    np.testing.assert_allclose(losses(adapter, batch, 3), first[:3], rtol=1e-5)


def test_loss_is_taken_before_the_update(make_adapter: Any, make_weights: Any, make_batch: Any) -> None:
    workload = get_workload("mnist_cnn")
    model, task = workload.model.without_dropout(), workload.task
    weights = make_weights(model)
    x, y = make_batch(model, task, 8)
    adapter = make_adapter(model, task, weights)
    loss = float(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    assert loss == pytest.approx(cross_entropy(forward(model, weights, x), y), rel=1e-5)


@pytest.mark.parametrize("opt", [OptimizerSpec("sgd", 0.1), OptimizerSpec("sgd", 0.05, momentum=0.9),
                                 OptimizerSpec("adam", 0.01),
                                 OptimizerSpec("adam", 0.01, beta1=0.8, beta2=0.95, eps=1e-3),
                                 OptimizerSpec("adam", 0.05, beta1=0.8, beta2=0.99, eps=0.1)],
                         ids=["sgd", "sgd_momentum", "adam", "adam_eps_1e-3", "adam_eps_0.1"])
def test_optimizer_matches_numpy_and_resets(make_adapter: Any, opt: OptimizerSpec) -> None:
    """Ten steps of MSE linear regression against hand-written SGD / momentum / torch-form Adam in float64."""
    model = ModelSpec("linreg", (4,), (L.Dense(1),))
    task = TaskSpec("synthetic", "mse", opt, batch_size=32, epochs=1, metrics=("mse",))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    w = {"0.kernel": rng.standard_normal((4, 1)).astype(np.float32), "0.bias": np.array([0.3], np.float32)}
    params = [w["0.kernel"].astype(np.float64), w["0.bias"].astype(np.float64)]
    slots = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    expected = []
    for t in range(1, 11):
        err = x @ params[0] + params[1] - y
        expected.append(float((err ** 2).mean()))
        for p, g, (m, v) in zip(params, [2 * x.T @ err / err.size, 2 * err.sum(0) / err.size], slots, strict=True):
            if opt.name == "sgd":
                m[...] = opt.momentum * m + g
                p -= opt.learning_rate * m
            else:
                m[...] = opt.beta1 * m + (1 - opt.beta1) * g
                v[...] = opt.beta2 * v + (1 - opt.beta2) * g * g
                p -= opt.learning_rate * (m / (1 - opt.beta1 ** t)) / (np.sqrt(v / (1 - opt.beta2 ** t)) + opt.eps)
    adapter = make_adapter(model, task, w)
    batch = adapter.put(x, y)
    for _ in range(2):  # set_weights resets the optimizer: the second run repeats the first
        adapter.set_weights(w)
        np.testing.assert_allclose(losses(adapter, batch, 10), expected, rtol=1e-5)
        got = adapter.get_weights()
        np.testing.assert_allclose(got["0.kernel"], params[0], atol=1e-5)
        np.testing.assert_allclose(got["0.bias"], params[1], atol=1e-5)


def test_dropout_is_seeded_and_train_only(make_adapter: Any, make_weights: Any, make_batch: Any) -> None:
    model = next(m for m in CONFORMANCE if m.name == "dropout")
    weights = make_weights(model)
    x, y = make_batch(model, TASK, 32)
    runs = []
    for _ in range(2):
        adapter = make_adapter(model, TASK, weights)
        runs.append(losses(adapter, adapter.put(x, y), 3))
        assert_matches_reference(adapter, model, adapter.get_weights(), x)  # predict is inference mode
    assert runs[0] == runs[1]
    plain = make_adapter(model.without_dropout(), TASK, weights)
    assert losses(plain, plain.put(x, y), 1)[0] != runs[0][0]


# -- modes, input pipeline, reporting, probes ------------------------------------------------------------------

@pytest.mark.parametrize(("backend", "mode"), NON_DEFAULT_MODES)
@pytest.mark.parametrize("name", ["mnist_cnn", "rowmnist_lstm", "text_transformer"])
def test_mode_matches_reference_and_the_default_mode(make_adapter: Any, make_batch: Any, backend: str, mode: str,
                                                     name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model.without_dropout(), workload.task
    x, y = make_batch(model, task, 16)
    curves = {}
    for m in (get_backend(backend).default_mode, mode):
        adapter = make_adapter(model, task, mode=m)
        assert adapter.settings()["mode"] == m
        assert_matches_reference(adapter, model, adapter.get_weights(), x)
        curves[m] = losses(adapter, adapter.put(x, y), 3)
    np.testing.assert_allclose(curves[mode], curves[get_backend(backend).default_mode], rtol=1e-4)


def test_reporting_and_unsupported_requests(backend: str, make_adapter: Any) -> None:
    model = CONFORMANCE[0]
    adapter = make_adapter(model, TASK)
    adapter.synchronize(adapter.train_step(adapter.put(np.zeros((4, 6), np.float32), np.zeros(4, np.int32))))
    adapter.synchronize()
    memory = adapter.memory_stats()
    assert memory["device_peak_bytes"] is None and memory["device_peak_reason"]
    info = adapter.device_info()
    assert info["device"] == "cpu" and info["device_name"] and info["framework_version"]
    settings = adapter.settings()
    for key in ("threads", "mode", "precision", "layout", "compiled", "xla", "tf32", "tf32_reason"):
        assert key in settings, key
    assert settings["mode"] == get_backend(backend).default_mode and settings["precision"] == "fp32"
    assert settings["tf32"] is False and settings["tf32_effective"] is False and settings["tf32_reason"]
    cls = load_adapter_class(backend)
    assert (cls.name, cls.modes, cls.default_mode) == (backend, get_backend(backend).modes, cls.modes[0])
    with pytest.raises(Unsupported, match="no mode"):
        cls("no_such_mode", device="cpu")
    with pytest.raises(Unsupported, match="fp16"):
        cls(precision="fp16", device="cpu")
    if make_adapter(device="auto").device_info()["device"] == "cpu":
        with pytest.raises(Unsupported):
            cls(device="cuda")
    with pytest.raises(ValueError, match="missing"):
        adapter.set_weights({})


@pytest.mark.parametrize(("backend", "mode"), ALL_MODES)
@pytest.mark.parametrize(("name", "n", "batch_size"), [("mnist_mlp", 500, 64), ("mnist_cnn", 200, 32)])
def test_idiomatic_epoch_trains(make_adapter: Any, make_batch: Any, mode: str, name: str, n: int,
                                batch_size: int) -> None:
    workload = get_workload(name)
    adapter = make_adapter(workload.model, workload.task, mode=mode)
    x, y = make_batch(workload.model, workload.task, n)
    before = cross_entropy(adapter.to_numpy(adapter.predict(adapter.put(x[:64]))), y[:64])
    for epoch in range(2):
        result = adapter.idiomatic_epoch(x, y, batch_size, seed=epoch)
        assert result["steps"] == n // batch_size and result["samples"] == (n // batch_size) * batch_size
        assert result["seconds"] > 0 and isinstance(result["pipeline"], str) and result["pipeline"]
    after = cross_entropy(adapter.to_numpy(adapter.predict(adapter.put(x[:64]))), y[:64])
    assert np.isfinite(after) and after < before, (before, after)


def test_idiomatic_epoch_shuffle_is_seeded(make_adapter: Any, make_batch: Any) -> None:
    model = CONFORMANCE[0]
    x, y = make_batch(model, TASK, 40)
    runs = []
    for seed in (7, 7, 8):
        adapter = make_adapter(model, TASK)
        assert adapter.idiomatic_epoch(x, y, 8, seed)["steps"] == 5
        runs.append(adapter.get_weights()["1.kernel"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn"])
def test_counted_flops_agree_with_the_spec_and_change_nothing(make_adapter: Any, make_batch: Any, name: str) -> None:
    """Each framework's own counter sees the spec's matmul/conv FLOPs (2 per multiply-add), plus at most a few % of
    element-wise work; counting applies no optimizer update."""
    workload = get_workload(name)
    model, task = workload.model.without_dropout(), workload.task
    adapter = make_adapter(model, task)
    x, y = make_batch(model, task, 8)
    counted = adapter.counted_flops(x, y)
    assert 0.98 <= counted["forward_flops"] / 8 / forward_flops(model) < 1.05, counted
    assert counted["train_flops"] is None or counted["train_flops"] > counted["forward_flops"]
    assert isinstance(counted["counter"], str) and counted["counter"]
    start = init_weights(model, 0)
    assert all(np.array_equal(v, start[k]) for k, v in adapter.get_weights().items())  # nothing trained
    batch = adapter.put(x, y)
    fresh = make_adapter(model, task)
    assert losses(adapter, batch, 2) == losses(fresh, fresh.put(x, y), 2)  # the optimizer state is untouched


def test_peak_matmul_measures_the_cpu_too(make_adapter: Any) -> None:
    peak = make_adapter().peak_matmul("fp32")  # the framework's own GEMM: the CPU's MFU denominator candidate
    assert peak["peak_flops_per_s"] > 1e8 and peak["precision"] == "fp32" and peak["tf32"] is False
    assert peak["framework_version"] and peak["framework"] in peak["method"] and int(peak["n"]) >= 512


@pytest.mark.gpu
def test_peak_matmul_on_gpu(make_adapter: Any) -> None:
    adapter = make_adapter(device="auto")
    if adapter.device_info()["device"] != "cuda":
        pytest.skip(f"{adapter.name} sees no CUDA GPU")
    peak = adapter.peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 1e12 and peak["method"]
