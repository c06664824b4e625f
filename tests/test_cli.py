"""The command line: one clear line and exit 2 for bad input, help on every command, list and history."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_bench.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


BAD_INPUT = [  # (arguments, with {tmp} for a fresh folder; a fragment of the one stderr line)
    (("run", "--suite", "nope"), "unknown suite 'nope'"),
    (("run", "--workloads", "resnet"), "unknown workload 'resnet'"),
    (("run", "--backends", "mxnet"), "unknown backend 'mxnet'"),
    (("run", "--modes", "turbo"), "unknown mode 'turbo'"),
    (("run", "--precisions", "fp8"), "unknown precision 'fp8'"),
    (("run", "--epochs", "0"), "must be a positive integer"),
    (("run", "--batch-size", "-3"), "must be a positive integer"),
    (("run", "--learning-rate", "0"), "must be a positive number"),
    (("run", "--timeout", "-5"), "--timeout: must be a positive number, got '-5'"),
    (("nightly", "--timeout", "0"), "--timeout: must be a positive number, got '0'"),
    (("run", "--resume", "nosuchrun"), "no run 'nosuchrun' to resume"),
    (("parity", "--workloads", "resnet"), "unknown workload 'resnet'"),
    (("parity", "--backends", "mxnet"), "unknown backend 'mxnet'"),
    (("export", "--run", "nosuchrun"), "no run 'nosuchrun'"),
    (("compare", "nosuchrun"), "no run 'nosuchrun'"),
    (("report", "--html", "{tmp}/r.html"), "no run 'latest'"),
    (("history", "--db", "{tmp}"), "is a folder; pass a file path"),
    (("history", "--db", "{tmp}/notes.txt"), "as a results database (file is not a database)"),
    (("report", "--html", "{tmp}/no/such/folder/r.html"), "does not exist; create it first"),
    (("report", "--html", "{tmp}"), "is a folder; give a file name"),
    (("nightly", "--html", "{tmp}/no/such/folder/n.html"), "does not exist; create it first"),
    (("export", "--output", "{tmp}/no/such/folder/x.json"), "does not exist; create it first"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    (tmp_path / "notes.txt").write_text("not a database, just some notes long enough to have a header page\n" * 20)
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    db = () if "--db" in args else ("--db", str(tmp_path / "x.sqlite"))
    out = _run(*args, *db)
    assert out.returncode == 2, out.stderr
    assert fragment in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert (tmp_path / "notes.txt").read_text().startswith("not a database")  # nothing overwritten


def test_a_plugin_backend_on_the_users_pythonpath_loads_in_the_cell(tmp_path):
    """The launcher prepends the repository to PYTHONPATH instead of replacing the user's path."""
    (tmp_path / "my_plugin.py").write_text(
        "from backends.torch.adapter import TorchAdapter\n\n\n"
        "class PluginAdapter(TorchAdapter):\n"
        "    name = 'plugin'\n    modes = ('eager',)\n    default_mode = 'eager'\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BENCH_EXTRA_BACKENDS": "plugin=my_plugin:PluginAdapter:eager"}
    out = _run("run", "--backends", "plugin", "--workloads", "linear_regression", "--epochs", "1", "-q",
               "--db", str(tmp_path / "x.sqlite"), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "linear_regression" in out.stdout and "plugin" in out.stdout


def test_malformed_suite_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nworkloads = ["mnist_mlp"\n')
    out = _run("run", "--suite", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert out.returncode == 2 and "bad.toml: not valid TOML" in out.stderr
    bad.write_text('name = "bad"\nbudgett = "smoke"\n')
    out = _run("run", "--suite", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert out.returncode == 2 and "unknown keys ['budgett']" in out.stderr


def test_missing_framework_is_skipped_with_the_install_line(tmp_path):
    env = {**os.environ, "BENCH_EXTRA_BACKENDS": "mxnet=mxnet.adapter:MxAdapter:default"}
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
