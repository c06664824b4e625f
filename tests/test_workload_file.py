"""`--workload-file`: your own model file runs through parity and every backend like a built-in workload, its
records say which file (and which bytes of it) ran, and a bad file is one line and exit 2."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from store import Store
from suites import registry
from suites.errors import SpecError, UsageError
from suites.registry import WORKLOAD_FILES_ENV, WORKLOADS_PATH_ENV, add_workload_files, get_workload

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "my_model.py"
NAME = "my_small_cnn"
BACKENDS = ("torch", "tensorflow", "jax")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (WORKLOAD_FILES_ENV, WORKLOADS_PATH_ENV)}
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _origin_of_example() -> dict[str, Any]:
    return {"path": str(EXAMPLE), "sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest(), "builtin": False}


CLASH = EXAMPLE.read_text().replace(f'"{NAME}"', '"mnist_mlp"')  # a built-in workload's name
BAD_FILES = {  # file name → its text (None: not written)
    "missing.py": None,
    "model.txt": EXAMPLE.read_text(),
    "no_factory.py": "WIDTH = 32  # no workload()\n",
    "raises.py": "def workload():\n    raise RuntimeError('boom: no data here')\n",
    "not_a_workload.py": "def workload():\n    return {'name': 'mine'}\n",
    "clash.py": CLASH,
    "clash_first.py": "ORDER = 1  # sorts before every built-in\n" + CLASH,
    "syntax.py": "def workload(:\n",
    "bad_spec.py": EXAMPLE.read_text().replace("Conv2D(8, 3,", "Conv2D(8, 0,"),
}
BAD_INPUT = [  # (command, file, a fragment of the one stderr line)
    ("run", "missing.py", "workload file '{tmp}/missing.py' does not exist"),
    ("parity", "missing.py", "does not exist"),
    ("nightly", "missing.py", "does not exist"),
    ("run", "model.txt", "is not a .py file"),
    ("run", "{tmp}", "is a folder; give one .py file"),
    ("run", "no_factory.py", "no_factory.py: defines no workload() function"),
    ("parity", "no_factory.py", "defines no workload() function"),
    ("run", "raises.py", "raises.py: workload() raised RuntimeError: boom: no data here"),
    ("run", "not_a_workload.py", "workload() must return a suites.spec.Workload, got dict"),
    ("run", "clash.py", "workload 'mnist_mlp' is defined twice, in suites/models/mnist_mlp.py (built in) and "),
    ("parity", "clash.py", "(built in)"),
    ("run", "clash_first.py", "(built in) and {tmp}/clash_first.py; rename the one in {tmp}/clash_first.py"),
    ("run", "syntax.py", "syntax.py failed to import (SyntaxError"),
    ("run", "bad_spec.py", "workload() raised SpecError: Conv2D.kernel_size"),
]


@pytest.mark.parametrize(("command", "name", "fragment"), BAD_INPUT,
                         ids=[f"{c}-{n}" for c, n, _ in BAD_INPUT])
def test_a_bad_workload_file_is_one_line_exit_2_and_nothing_is_written(tmp_path, command, name, fragment):
    for file_name, text in BAD_FILES.items():
        if text is not None:
            (tmp_path / file_name).write_text(text)
    path = name.replace("{tmp}", str(tmp_path)) if "{tmp}" in name else str(tmp_path / name)
    db = tmp_path / "results.sqlite"
    out = _run(command, "--workload-file", path, "--db", str(db))
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert fragment.replace("{tmp}", str(tmp_path)) in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not db.exists()  # checked before the store opens: no run created, nothing measured touched


def test_a_files_workload_joins_once_with_its_origin_and_a_bad_file_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKLOAD_FILES_ENV, "")  # restored after the test
    monkeypatch.setenv(WORKLOADS_PATH_ENV, str(EXAMPLE.parent))  # the same file in a folder counts once
    assert add_workload_files([str(EXAMPLE), os.path.relpath(EXAMPLE)]) == (NAME,)
    assert os.environ[WORKLOAD_FILES_ENV] == str(EXAMPLE)  # absolute: children start in the repository
    assert get_workload(NAME).model.name == NAME and NAME in registry.offline_workloads()
    assert registry.workload_origin(NAME) == _origin_of_example()
    builtin = registry.workload_origin("mnist_mlp")
    assert builtin["builtin"] is True and builtin["path"] == "suites/models/mnist_mlp.py"
    (tmp_path / "raises.py").write_text(BAD_FILES["raises.py"])
    with pytest.raises(SpecError, match="workload\\(\\) raised RuntimeError"):
        add_workload_files([str(tmp_path / "raises.py")])
    assert os.environ[WORKLOAD_FILES_ENV] == str(EXAMPLE)  # a bad file leaves the variable as it was
    with pytest.raises(UsageError, match="does not exist"):
        add_workload_files([str(tmp_path / "missing.py")])


def _records(db: Path) -> list[dict[str, Any]]:
    store = Store(db)
    run_id = store.latest_run_id()
    assert run_id is not None
    records = store.records(run_id)
    store.close()
    return records


@pytest.mark.slow
def test_run_with_the_example_runs_just_its_workload_in_all_three_backends(tmp_path):
    db = tmp_path / "results.sqlite"
    out = _run("run", "--suite", "smoke", "--workload-file", str(EXAMPLE.relative_to(REPO)), "--db", str(db), "-q",
               timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    records = _records(db)
    assert sorted(r["cell"]["backend"] for r in records) == sorted(BACKENDS)
    assert {r["cell"]["workload"] for r in records} == {NAME}, [r["key"] for r in records]
    assert all(r["status"] == "ok" for r in records), [(r["key"], r["error"]) for r in records]
    assert all(r["workload_origin"] == _origin_of_example() for r in records)
    assert all(r["cell"]["budget"] == "smoke" and r["dataset"]["n_train"] <= 1024 for r in records)
    assert NAME in out.stdout


@pytest.mark.slow
def test_parity_with_the_example_agrees_in_all_three_backends(tmp_path):
    db = tmp_path / "results.sqlite"
    out = _run("parity", "--workload-file", str(EXAMPLE), "--db", str(db), timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    store = Store(db)
    check = store.latest_parity()
    store.close()
    assert check is not None
    rows = check["rows"]
    assert {r["workload"] for r in rows} == {NAME}  # just the file's workload
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]
    pairs = {(r["a"], r["b"]) for r in rows}
    assert {("torch", "tensorflow"), ("torch", "jax"), ("tensorflow", "jax")} <= pairs, pairs
    assert all(r["workload_origin"] == _origin_of_example() for r in rows)
