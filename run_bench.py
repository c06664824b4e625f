#!/usr/bin/env python3
"""The command line: parse, call harness/ and reports/, map errors to exit codes (0 ok, 1 failures, 2 bad input)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from suites.errors import SpecError, UsageError

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"run_bench: {message} (see --help)\n")
        sys.exit(EXIT_USAGE)


def _add_workload_file(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--workload-file", action="append", metavar="PATH",
                        help="a .py file defining workload() -> suites.spec.Workload (repeatable): its workload is "
                             f"added for this command, children included; without --workloads, {what}")


def _add_executor(parser: argparse.ArgumentParser) -> None:
    """Where the cells run: --executor local|ray|slurm and each one's settings."""
    parser.add_argument("--executor", choices=("local", "ray", "slurm"), default="local",
                        help="local: here, one cell after another (default); ray: one Ray task per cell; slurm: one "
                             "job array per pass through submitit")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="Ray cluster to join (default: start a local one)")
    parser.add_argument("--cpus-per-cell", type=_positive_float,
                        help="Ray CPUs per cell (default: the smallest node's, so no two cells share a node)")
    parser.add_argument("--slurm-partition", help="Slurm partition (default: the suite's [slurm] partition)")
    parser.add_argument("--slurm-time-min", type=_positive_int,
                        help="Slurm time limit per cell in minutes (default: the cell timeout + 5)")
    parser.add_argument("--slurm-gpus-per-task", type=_positive_int,
                        help="GPUs per array task (default: 1 for --device cuda, else 0)")
    parser.add_argument("--slurm-option", action="append", metavar="KEY=VALUE",
                        help="extra sbatch option, e.g. --slurm-option account=ml (repeatable)")
    parser.add_argument("--slurm-cluster", choices=("slurm", "local"), default=None,
                        help="local: submitit runs the jobs as local processes (testing without Slurm)")
    parser.add_argument("--slurm-folder", metavar="DIR",
                        help="where submitit keeps each job's files, on a filesystem the nodes share "
                             "(default results/slurm)")
    parser.add_argument("--slurm-parallel", type=_positive_int,
                        help="array tasks at once (default: 256 on Slurm, 1 with --slurm-cluster local)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run_bench.py", description="Benchmark the same model in PyTorch, TensorFlow/Keras and JAX.",
                     epilog="Exit codes: 0 all cells ok or skipped; 1 a cell failed / parity mismatch; 2 bad input.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="results database: a SQLite file or a PostgreSQL URL, "
                        "postgresql+psycopg://user@host/db (default $BENCH_DB or results/bench.sqlite)")
    common.add_argument("-q", "--quiet", action="store_true", help="print only the final table or verdict")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    listing = add("list", "suites, workloads, backends (installed or not) and modes")
    listing.add_argument("--layers", action="store_true",
                         help="instead: each neutral layer kind by backend (builds it or not), its reference and "
                              "FLOP rule (imports each framework in a child process)")

    run = add("run", "train, evaluate and time every cell of a suite, one fresh process per cell")
    run.add_argument("--suite", default="smoke", help="suite name (suites/NAME.toml) or a .toml path (default smoke)")
    run.add_argument("--workloads", type=_csv, help="comma-separated workloads (default: the suite's)")
    run.add_argument("--backends", type=_csv, help="comma-separated backends (default: the suite's)")
    run.add_argument("--modes", type=_csv, help="comma-separated modes, applied to the backends that have them")
    run.add_argument("--precisions", type=_csv, help="comma-separated precisions (fp32, bf16)")
    run.add_argument("--batch-size", type=_positive_int, help="override every task's batch size")
    run.add_argument("--epochs", type=_positive_int, help="override the budget's epochs")
    run.add_argument("--learning-rate", type=_positive_float, help="override every task's learning rate")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "gpu"), help="device (default auto)")
    run.add_argument("--timeout", type=_positive_float,
                     help="seconds per cell before it is killed (default: the suite's)")
    run.add_argument("--isolation", choices=("fork", "spawn"), default=None,
                     help="fork: each cell is a fresh process forked from a pre-imported per-backend parent, imports "
                          "excluded (default); spawn: each cell is a new interpreter that imports its framework")
    run.add_argument("--resume", nargs="?", const="latest", metavar="RUN_ID",
                     help="finish an interrupted run (default: the latest), running only its missing cells")
    run.add_argument("--repeats", type=_positive_int,
                     help="fresh processes per cell, pooled between processes (default: the suite's)")
    _add_executor(run)
    _add_workload_file(run, "the run is just the files' workloads, on the suite's budget and backends")

    parity = add("parity", "prove the backends build the same model: params, outputs, losses")
    parity.add_argument("--workloads", type=_csv, help="comma-separated workloads (default: all offline)")
    parity.add_argument("--backends", type=_csv, help="comma-separated backends (default: all installed)")
    parity.add_argument("--modes", type=_csv,
                        help="comma-separated modes, applied to the backends that have them (default: each default)")
    parity.add_argument("--precisions", type=_csv,
                        help="comma-separated precisions: fp32, bf16 (default fp32; bf16 is compared with the fp32 "
                             "references at measured bf16 tolerances)")
    parity.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="device (default auto)")
    _add_workload_file(parity, "parity checks just the files' workloads")

    export = add("export", "write a run's flat records as JSON or CSV")
    export.add_argument("--format", choices=("json", "csv", "pytest-benchmark"), default="json",
                        help="json/csv: flat records; pytest-benchmark: its JSON, for `pytest-benchmark compare`")
    export.add_argument("--run", default="latest", help="run id or 'latest' (default)")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")

    history = add("history", "list the stored runs, newest first; or, with --changes, the change points of every "
                             "cell's watched metrics over the latest nightly run's comparable history")
    history.add_argument("--changes", action="store_true",
                         help="list change points (cell, metric, run, commit, before → after, p) instead of runs; "
                              "per cell and machine where a cell's records come from several machines")

    nightly = add("nightly", "run a suite, judge each cell against its own history (noise-aware), write the HTML "
                             "report; exit 1 when something regressed")
    nightly.add_argument("--suite", default="nightly", help="suite name or .toml path (default nightly)")
    nightly.add_argument("--history", type=_positive_int, default=10,
                         help="unregressed comparable earlier runs that form each cell's baseline (default 10)")
    nightly.add_argument("--html", help="report path (default results/nightly-RUN.html beside the database)")
    nightly.add_argument("--timeout", type=_positive_float,
                         help="seconds per cell before it is killed (default: the suite's)")
    nightly.add_argument("--isolation", choices=("fork", "spawn"), default=None, help="as for run")
    nightly.add_argument("--repeats", type=_positive_int, help="as for run (default: the suite's)")
    _add_executor(nightly)
    _add_workload_file(nightly, "the nightly runs just the files' workloads (a configuration of its own)")
    nightly.add_argument("--accept", metavar="CELL|all",
                         help="run nothing: accept the latest nightly run as CELL's (or every cell's) new baseline")
    nightly.add_argument("--reason", metavar="TEXT", help="why the new baseline is right (required with --accept)")

    report = add("report", "write one self-contained HTML report of a run (opens offline)")
    report.add_argument("--run", action="append", metavar="RUN",
                        help="run id or 'latest' (default); repeatable with --by machine: the report is of the first "
                             "run, its Machines section of them all")
    report.add_argument("--by", choices=("machine",),
                        help="machine: add a Machines section, the same cells on each machine (needs two machines)")
    report.add_argument("--html", required=True, help="file to write, e.g. report.html")

    calibrate = add("calibrate", "measure (or show) the MFU denominators: best framework GEMM per device, precision")
    calibrate.add_argument("--refresh", action="store_true", help="measure again (do it on an idle machine)")

    compare = add("compare", "backends side by side (ratios to a baseline with CIs and significance), or two runs")
    compare.add_argument("run", nargs="*", default=["latest"],
                         help="run id(s) or 'latest' (default); several runs go with --by machine")
    compare.add_argument("--by", choices=("backend", "machine"), default="backend",
                         help="backend: backends side by side (default); machine: the same cells of the runs on each "
                              "machine that ran them, ratios to the first machine")
    compare.add_argument("--baseline-machine", metavar="HOST",
                         help="with --by machine: the machine (hostname, or label as shown) ratios are taken against")
    compare.add_argument("--baseline", default="torch", help="backend the ratios are taken against (default torch)")
    compare.add_argument("--against", metavar="RUN", help="compare the same cells of RUN (older) with this run")
    compare.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    compare.add_argument("--scaling", action="store_true",
                         help="the run's sweep cells by parameter count: tokens/s, MFU, compile time, estimated vs "
                              "measured memory, and the sizes left for bigger machines")
    return parser


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    from commands import measure, nightly, show  # deferred: keeps --help fast

    return {"list": measure.cmd_list, "run": measure.cmd_run, "parity": measure.cmd_parity,
            "calibrate": measure.cmd_calibrate, "nightly": nightly.cmd_nightly, "report": show.cmd_report,
            "export": show.cmd_export, "history": show.cmd_history, "compare": show.cmd_compare}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _commands()[args.command](args)
    except (UsageError, SpecError) as exc:
        sys.stderr.write(f"run_bench: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `run_bench.py compare | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("run_bench: interrupted; finished cells are stored — continue with `run --resume`\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
