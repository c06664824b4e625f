"""Checks of command-line values that argparse cannot make: the database, output paths and workload files."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.executors import ExecutorOptions
from store import Store
from suites.errors import UsageError
from suites.registry import add_workload_files
from suites.suite import Suite

RAY_FLAGS = ("ray_address", "cpus_per_cell")
SLURM_FLAGS = ("slurm_partition", "slurm_time_min", "slurm_gpus_per_task", "slurm_option", "slurm_cluster",
               "slurm_folder", "slurm_parallel")


def open_store(args: argparse.Namespace) -> Store:
    """The database named by --db (or $BENCH_DB, or the default); UsageError when it is not a results database."""
    return Store(getattr(args, "db", None))


def output_path(text: str, option: str) -> Path:
    """A file path to write; UsageError when its folder does not exist or it names a folder."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"{option} {text!r} is a folder; give a file name, e.g. {Path(text) / 'report.html'}")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {text!r}: folder {str(path.parent)!r} does not exist; create it first")
    return path


def workload_files(args: argparse.Namespace) -> tuple[str, ...]:
    """Add the workloads of every --workload-file to this invocation (cell and parity processes included); their
    names, () without the option. UsageError/SpecError for a file that is missing, not .py or not a workload."""
    paths = getattr(args, "workload_file", None) or []
    return add_workload_files(paths) if paths else ()


def _sbatch_options(pairs: list[str]) -> dict[str, str]:
    """--slurm-option KEY=VALUE pairs as a dict; UsageError for one without '='."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--slurm-option {pair!r} is not KEY=VALUE; e.g. --slurm-option account=ml")
        out[key.strip().lstrip("-")] = value.strip()
    return out


def check_executor_flags(args: argparse.Namespace) -> str:
    """The --executor name; UsageError for a flag of another executor or a malformed --slurm-option."""
    name = getattr(args, "executor", None) or "local"
    for flags, owner in ((RAY_FLAGS, "ray"), (SLURM_FLAGS, "slurm")):
        given = [f for f in flags if getattr(args, f, None) is not None]
        if given and name != owner:
            flag = "--" + given[0].replace("_", "-")
            raise UsageError(f"{flag} is a setting of --executor {owner}; add --executor {owner} or drop {flag}")
    _sbatch_options(getattr(args, "slurm_option", None) or [])
    return name


def executor_options(args: argparse.Namespace, suite: Suite | None) -> ExecutorOptions:
    """Where this invocation runs the cells: --executor with its flags, Slurm settings from the suite's [slurm]
    table where no flag gives them."""
    name = check_executor_flags(args)
    table = suite.slurm if suite else {}
    options = {str(k): str(v) for k, v in table.get("options", {}).items()}
    options.update(_sbatch_options(getattr(args, "slurm_option", None) or []))
    return ExecutorOptions(
        name=name, ray_address=getattr(args, "ray_address", None), cpus_per_cell=getattr(args, "cpus_per_cell", None),
        slurm_cluster=getattr(args, "slurm_cluster", None) or "slurm",
        slurm_partition=getattr(args, "slurm_partition", None) or table.get("partition"),
        slurm_time_min=getattr(args, "slurm_time_min", None) or table.get("time_min"),
        slurm_gpus_per_task=getattr(args, "slurm_gpus_per_task", None) or table.get("gpus_per_task"),
        slurm_options=options, slurm_folder=getattr(args, "slurm_folder", None),
        slurm_parallel=getattr(args, "slurm_parallel", None))
