"""Executor choice and settings from flags and suite files, and how a cell lost with its node is resumed."""

from __future__ import annotations

from pathlib import Path

import pytest

import run_bench
from commands.options import executor_options
from harness import status
from harness.cell import Cell
from harness.executors import EXECUTORS
from harness.executors.base import lost_record, node_lost
from harness.session import kept_processes, missing_repeats
from suites.errors import SpecError
from suites.suite import parse_suite


def test_the_cli_offers_exactly_the_executors_there_are() -> None:
    action = next(a for a in run_bench.build_parser()._subparsers._group_actions[0].choices["run"]._actions
                  if a.dest == "executor")
    assert tuple(action.choices) == EXECUTORS and action.default == "local"


@pytest.mark.parametrize(("argv", "message"), [
    (["--slurm-partition", "gpu"], "--slurm-partition is a setting of --executor slurm"),
    (["--ray-address", "h:6379"], "--ray-address is a setting of --executor ray"),
    (["--executor", "slurm", "--slurm-cluster", "local", "--slurm-option", "account"], "is not KEY=VALUE"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "no Ray head at 127.0.0.1:1"),
])
def test_bad_executor_flags_are_one_line_and_create_no_run(tmp_path: Path, capsys, argv, message) -> None:
    if "ray" in argv:
        pytest.importorskip("ray", reason="Ray is not installed: pip install -c constraints.txt -e '.[ray]'")
    db = tmp_path / "r.sqlite"
    assert run_bench.main(["run", "--workloads", "mnist_mlp", "--db", str(db), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not db.exists()


def test_slurm_settings_come_from_the_suite_file_and_flags_win(tmp_path: Path) -> None:
    suite = tmp_path / "cluster.toml"
    suite.write_text('workloads = ["mnist_mlp"]\n[slurm]\npartition = "gpu"\ntime_min = 30\n'
                     'options = { account = "ml", qos = "high" }\n')
    args = run_bench.build_parser().parse_args(["run", "--executor", "slurm", "--slurm-time-min", "10",
                                                "--slurm-option", "qos=low"])
    options = executor_options(args, parse_suite(suite))
    assert (options.slurm_partition, options.slurm_time_min) == ("gpu", 10)
    assert options.slurm_options == {"account": "ml", "qos": "low"}


@pytest.mark.parametrize(("table", "key"), [('partition = 3', "slurm.partition"), ('time_min = -1', "slurm.time_min"),
                                            ('nodes = 2', "slurm.nodes")])
def test_a_bad_slurm_table_names_its_key(tmp_path: Path, table: str, key: str) -> None:
    suite = tmp_path / "bad.toml"
    suite.write_text(f'workloads = ["mnist_mlp"]\n[slurm]\n{table}\n')
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        parse_suite(suite)


def test_a_cell_lost_with_its_node_runs_again_but_a_crash_of_its_own_does_not() -> None:
    cell = Cell("mnist_mlp", "torch", "eager")
    lost = lost_record(cell, "NodeDiedError: raylet gone", {"name": "ray"})
    assert lost["status"] == status.CRASHED and node_lost(lost) and lost["error"]["message"].startswith("node lost")
    assert missing_repeats(lost, 1) == 1 and kept_processes(lost) == []
    own = lost_record(cell, "harness raised", {"name": "ray"}, lost=False)
    assert not node_lost(own) and missing_repeats(own, 3) == 0
    ok = {"status": status.OK, "repeat": 1, "repeats": [{"repeat": 1, "status": "ok"}]}
    lost_second = {**lost, "repeat": 2, "repeats": [*ok["repeats"], {"repeat": 2, "status": "crashed"}]}
    assert missing_repeats(lost_second, 3) == 2 and kept_processes(lost_second) == ok["repeats"]
