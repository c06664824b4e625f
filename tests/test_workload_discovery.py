"""Workloads are discovered: one file in suites/models/ or in a $BENCH_WORKLOADS_PATH folder adds one workload."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import Store
from suites import registry
from suites.data.registry import ONLINE
from suites.errors import SpecError, UsageError
from suites.registry import WORKLOADS_PATH_ENV, get_workload, workload_names
from suites.suite import load_suite

REPO = Path(__file__).resolve().parent.parent

TODAYS_ORDER = ("mnist_mlp", "mnist_cnn", "keras_cnn", "rowmnist_lstm", "text_transformer", "bert_encoder",
                "text_cnn", "tfidf_mlp", "linear_regression", "vit_tiny", "resnet_small",
                "resnet_small_cifar10", "gpt_lm", "keras_cnn_cifar10")
SCALING = tuple(f"gpt_lm_{size}" for size in ("0p9m", "3m", "11m", "40m", "86m", "303m", "709m", "1p5b"))
"""The scaling sweep's sizes (suites/models/gpt_lm_scaling.py): listed after the rest, in no suite's 'all'."""

# The file's name differs from the workload's on purpose: the workload's own name is what the registry lists.
TINY = '''"""A throw-away workload: a tiny Dense model on the bundled diabetes data."""

from suites.layers import Dense
from suites.spec import REGRESSION_METRICS, Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload


def workload() -> Workload:
    model = ModelSpec("tiny_dense", (10,), (Dense(4, "relu"), Dense(1)))
    task = TaskSpec("diabetes", "mse", OptimizerSpec("sgd", 0.05), batch_size=64, epochs=1, metrics=REGRESSION_METRICS)
    return Workload("tiny_dense_ext", "dense 4 relu -> dense 1 on diabetes", "tests/test_workload_discovery.py",
                    model, task, smoke=Budget(1), standard=Budget(1))
'''


@pytest.fixture()
def extra_folder(tmp_path, monkeypatch):
    folder = tmp_path / "workloads"
    folder.mkdir()
    (folder / "my_tiny.py").write_text(TINY)
    (folder / "helpers.py").write_text("SCALE = 2  # no workload(): ignored\n")
    monkeypatch.setenv(WORKLOADS_PATH_ENV, str(folder))
    return folder


def test_bundled_workloads_keep_todays_order_and_online_ones_stay_out_of_offline():
    assert workload_names() == (*TODAYS_ORDER, *SCALING)
    assert registry.OFFLINE_WORKLOADS == tuple(w for w in TODAYS_ORDER if not w.endswith("_cifar10"))
    assert all(get_workload(name).sweep == "scaling" for name in SCALING)
    cifar = get_workload("keras_cnn_cifar10")
    assert cifar.online and cifar.task.dataset == "cifar10"


@pytest.mark.parametrize("name", TODAYS_ORDER)
def test_the_online_tag_says_whether_the_data_needs_the_network(name):
    w = get_workload(name)
    assert w.online == (w.task.dataset in ONLINE)


def test_a_file_in_the_extra_folder_is_listed_and_discovered(extra_folder, monkeypatch):
    assert workload_names() == (*TODAYS_ORDER, *SCALING, "tiny_dense_ext")  # no ORDER: after the bundled ones
    assert "tiny_dense_ext" in registry.OFFLINE_WORKLOADS
    assert "tiny_dense_ext" in load_suite("smoke").workloads  # "all" offline workloads
    w = get_workload("tiny_dense_ext")
    assert w.model.output_shape == (1,) and not w.online
    monkeypatch.delenv(WORKLOADS_PATH_ENV)
    assert "tiny_dense_ext" not in workload_names()
    with pytest.raises(UsageError, match="unknown workload 'tiny_dense_ext'"):
        get_workload("tiny_dense_ext")


def test_bad_extra_folders_say_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKLOADS_PATH_ENV, str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="is not a directory"):
        workload_names()
    (tmp_path / "dup").mkdir()
    (tmp_path / "dup" / "dup.py").write_text(TINY.replace('"tiny_dense_ext"', '"mnist_mlp"'))
    monkeypatch.setenv(WORKLOADS_PATH_ENV, str(tmp_path / "dup"))
    with pytest.raises(SpecError, match="'mnist_mlp' is defined twice"):
        workload_names()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "broken.py").write_text("def workload(:\n")
    monkeypatch.setenv(WORKLOADS_PATH_ENV, str(tmp_path / "broken"))
    with pytest.raises(SpecError, match="broken.py failed to import"):
        workload_names()


def test_an_extra_workload_runs_end_to_end_in_a_cell_process(extra_folder, tmp_path):
    db = tmp_path / "x.sqlite"
    env = {**os.environ, WORKLOADS_PATH_ENV: str(extra_folder)}
    out = subprocess.run([sys.executable, "run_bench.py", "run", "--workloads", "tiny_dense_ext", "--backends",
                          "torch", "--db", str(db), "-q"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    store = Store(db)
    run_id = store.latest_run_id()
    assert run_id is not None
    records = store.records(run_id)
    store.close()
    errors = [r["error"] for r in records]
    assert [(r["key"], r["status"]) for r in records] == [("tiny_dense_ext/torch/eager/fp32", "ok")], errors
    assert records[0]["cell"]["workload"] == "tiny_dense_ext" and records[0]["params"] == 4 * 10 + 4 + 4 + 1
