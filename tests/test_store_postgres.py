"""The store on a PostgreSQL server: what it shows of a URL, where reports go, the CLI reading it, and one-line
advice when the server cannot be reached or psycopg is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from postgres_server import free_port

from store import Store
from suites.errors import UsageError

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**_env(), "COLUMNS": "200"})


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "BENCH_DB"}


def _two_runs(url: str) -> tuple[str, str]:
    """Two finished runs with a couple of records each, written through the store."""
    store = Store(url)
    ids = []
    for suite, backends in (("smoke", ("torch", "jax")), ("nightly", ("torch", "tensorflow"))):
        run_id = store.create_run(suite, {}, {"machine_key": "m"})
        for backend in backends:
            store.add_record(run_id, {"key": f"mnist_mlp/{backend}/eager/fp32", "status": "ok",
                                      "cell": {"workload": "mnist_mlp", "backend": backend, "mode": "eager",
                                               "precision": "fp32"}, "quality": {"accuracy": 0.9}})
        store.finish_run(run_id)
        ids.append(run_id)
    store.close()
    return ids[0], ids[1]


def test_a_server_store_hides_the_password_and_reports_go_to_results(postgres_url: str) -> None:
    with_password = postgres_url.replace("bench@", "bench:s3cret@")  # trust auth: the password is not checked
    store = Store(with_password)
    assert store.path is None and "s3cret" not in store.where and "***" in store.where
    assert store.where.endswith(postgres_url.rsplit("@", 1)[1]) and store.report_dir == REPO / "results"
    store.close()


def test_history_and_export_read_a_postgres_store(postgres_url: str) -> None:
    first, second = _two_runs(postgres_url)
    history = _cli("history", "--db", postgres_url)
    assert history.returncode == 0, history.stderr
    assert first in history.stdout and second in history.stdout and "127.0.0.1" in history.stdout
    for run_id in (first, second):
        export = _cli("export", "--db", postgres_url, "--run", run_id)
        assert export.returncode == 0, export.stderr
        rows = json.loads(export.stdout)
        assert {r["run_id"] for r in rows} == {run_id} and len(rows) == 2


def test_an_unreachable_server_is_one_line_and_exit_2() -> None:
    url = "postgresql+psycopg://bench@127.0.0.1:1/x"
    out = _cli("history", "--db", url)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "cannot connect to" in out.stderr and "start the server" in out.stderr


def test_a_closed_port_fails_fast_with_advice() -> None:
    start = time.monotonic()
    with pytest.raises(UsageError, match="start the server or fix the URL") as err:
        Store(f"postgresql+psycopg://bench@127.0.0.1:{free_port()}/x?connect_timeout=2")
    assert time.monotonic() - start < 10 and "\n" not in str(err.value)


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    with pytest.raises(UsageError, match=r"pip install -c constraints.txt -e '\.\[postgres\]'") as err:
        Store("postgresql+psycopg://bench@127.0.0.1:1/x")
    assert "\n" not in str(err.value)
