"""Writes tests/data/store_v4.sqlite with the store schema 4 code (store/database.py as of commit c865ead).

Run from the repository root: .venv/bin/python tests/data/make_store_v4.py. The old module is read with `git show`,
so the file is the one that code wrote, whatever store/ holds now.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
V4_COMMIT = "c865ead"
OUT = REPO / "tests" / "data" / "store_v4.sqlite"


def old_store_module() -> types.ModuleType:
    """store/database.py at V4_COMMIT, loaded as module `store_v4`."""
    source = subprocess.run(["git", "show", f"{V4_COMMIT}:store/database.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("store_v4")
    sys.modules["store_v4"] = module
    exec(compile(source, f"{V4_COMMIT}:store/database.py", "exec"), module.__dict__)
    return module


def cell(key: str, status: str = "ok", train: float = 100.0) -> dict:
    """A small record of cell `key` (workload/backend/mode/precision)."""
    workload, backend, mode, precision = key.split("/")
    return {"schema_version": 2, "key": key, "status": status,
            "cell": {"workload": workload, "backend": backend, "mode": mode, "precision": precision},
            "quality": {"accuracy": 0.9}, "timing": {"train": {"median": train}}}


def main() -> None:
    sys.path.insert(0, str(REPO))
    old = old_store_module()
    assert old.STORE_SCHEMA == 4
    OUT.unlink(missing_ok=True)
    store = old.Store(OUT)
    first = store.create_run("nightly", {"suite": "tiny"}, {"machine_key": "m", "git_sha": "aaa"}, config_key="k")
    store.add_record(first, cell("mnist_mlp/torch/eager/fp32", train=1000.0))
    store.add_record(first, cell("mnist_mlp/jax/jit/fp32", "failed"))
    store.add_record(first, cell("mnist_mlp/torch/eager/fp32", train=1010.0))  # the same key again: a re-measurement
    store.finish_run(first)
    second = store.create_run("smoke", {"suite": "smoke"}, {"machine_key": "m", "git_sha": "bbb"})
    store.add_record(second, cell("text_cnn/tensorflow/graph/fp32", train=50.0))
    store.add_record(second, cell("text_cnn/torch/eager/bf16", "skipped"))
    store.finish_run(second)
    store.add_parity([{"workload": "mnist_mlp", "a": "torch", "b": "jax", "ok": True}], "aaa", {"modes": ["eager"]})
    store.add_acceptance("mnist_mlp/torch/eager/fp32", first, "alice", "new BLAS")
    store.close()
    print(f"{OUT}: runs {first}, {second}; {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
