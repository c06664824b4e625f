"""The command line: one clear line and exit 2 for bad input, help on every command, list and history."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(("args", "fragment"), [
    (("run", "--suite", "nope"), "unknown suite 'nope'"),
    (("run", "--workloads", "resnet"), "unknown workload 'resnet'"),
    (("run", "--backends", "mxnet"), "unknown backend 'mxnet'"),
    (("run", "--modes", "turbo"), "unknown mode 'turbo'"),
    (("run", "--precisions", "fp8"), "unknown precision 'fp8'"),
    (("run", "--epochs", "0"), "must be a positive integer"),
    (("parity", "--workloads", "resnet"), "unknown workload 'resnet'"),
    (("export", "--run", "nosuchrun"), "no run 'nosuchrun'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    out = _run(*args, "--db", str(tmp_path / "x.sqlite"))
    assert out.returncode == 2, out.stderr
    assert fragment in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_malformed_suite_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nworkloads = ["mnist_mlp"\n')
    out = _run("run", "--suite", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert out.returncode == 2 and "bad.toml: not valid TOML" in out.stderr
    bad.write_text('name = "bad"\nbudgett = "smoke"\n')
    out = _run("run", "--suite", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert out.returncode == 2 and "unknown keys ['budgett']" in out.stderr


def test_missing_framework_is_skipped_with_the_install_line(tmp_path):
    env = {**__import__("os").environ, "BENCH_EXTRA_BACKENDS": "mxnet=mxnet.adapter:MxAdapter:default"}
    out = _run("run", "--backends", "mxnet", "--workloads", "linear_regression", "--db", str(tmp_path / "x.sqlite"),
               env=env)
    assert out.returncode == 0, out.stderr  # skipped is not a failure
    assert "skipped" in out.stdout and "mxnet is not installed" in out.stdout


@pytest.mark.parametrize("command", ["list", "run", "parity", "export", "history"])
def test_help_on_every_command(command):
    out = _run(command, "--help")
    assert out.returncode == 0 and "usage:" in out.stdout


def test_list_shows_everything(tmp_path):
    out = _run("list")
    assert out.returncode == 0
    for name in ("smoke", "mnist_cnn", "text_transformer", "torch", "tensorflow", "jax", "compile", "xla"):
        assert name in out.stdout
