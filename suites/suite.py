"""Named suites (suites/*.toml): which workloads, backends, modes and precisions, under which budget."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suites.errors import SpecError, UsageError
from suites.registry import get_workload, offline_workloads
from suites.spec import BUDGETS

SUITES_DIR = Path(__file__).resolve().parent
_KEYS = {"name", "description", "budget", "workloads", "backends", "modes", "precisions", "timeout_s",
         "memory_limit_mb", "latency_batch_sizes", "repeats", "timing", "confirm", "confirm_delay_s",
         "time_budget_s", "slurm"}
TIMINGS = ("smoke", "standard", "verdict", "scaling")
"""Trial plans a suite can name (harness/cell.py PLANS holds what each one is)."""


@dataclass(frozen=True)
class Suite:
    """A named selection of cells and their budget; modes map backend → mode list (absent: the backend default).

    backends == () means every installed backend, in the backend registry's order (the planner resolves it).
    """

    name: str
    description: str
    budget: str
    workloads: tuple[str, ...]
    backends: tuple[str, ...] = ()
    modes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    precisions: tuple[str, ...] = ("fp32",)
    timeout_s: float = 600.0
    memory_limit_mb: int | None = None
    latency_batch_sizes: tuple[int, ...] = (1,)
    repeats: int = 1
    """Fresh processes per cell: between-process noise (±20 %) dwarfs the trials' within one process."""
    timing: str | None = None
    """The trial plan (TIMINGS); None: the one named like the budget."""
    confirm: bool = True
    """Under `nightly`: re-run each regressed cell in fresh processes and flag only what repeats."""
    confirm_delay_s: float = 0.0
    """Seconds `nightly` waits before that confirmation pass (a slow spell of a shared VM lasts minutes)."""
    time_budget_s: float | None = None
    """Wall seconds the whole run may take: a workload (all its cells) whose extrapolated time does not fit in what
    is left is skipped, with the estimate, and left for a bigger machine (harness/time_budget.py). None: no budget."""
    slurm: dict[str, Any] = field(default_factory=dict)
    """The `[slurm]` table for `--executor slurm`: partition, time_min, gpus_per_task and options (extra sbatch
    options, name = value); flags override it."""


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def _list(path: Path, data: dict[str, object], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The names under `key`; absent or "all" gives `default`."""
    value = data.get(key, "all")
    if value == "all":
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise SpecError(f"{path.name}: '{key}' must be a non-empty list of names or \"all\", got {value!r}")
    return tuple(value)


SLURM_KEYS = {"partition": str, "time_min": int, "gpus_per_task": int, "options": dict}


def _slurm(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The validated `[slurm]` table ({} when absent)."""
    table = data.get("slurm", {})
    if not isinstance(table, dict):
        raise SpecError(f"{path.name}: 'slurm' must be a table ([slurm]) with keys {sorted(SLURM_KEYS)}")
    for key, value in table.items():
        kind = SLURM_KEYS.get(key)
        if kind is None:
            raise SpecError(f"{path.name}: unknown key 'slurm.{key}'; allowed: {sorted(SLURM_KEYS)}")
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            what = "non-negative integer" if kind is int else kind.__name__
            raise SpecError(f"{path.name}: 'slurm.{key}' must be a {what}, got {value!r}")
    if not all(isinstance(v, (str, int)) for v in table.get("options", {}).values()):
        raise SpecError(f"{path.name}: 'slurm.options' must map sbatch option names to strings or numbers")
    return dict(table)


def parse_suite(path: Path) -> Suite:
    """Read and validate a suite file; every problem is one SpecError line naming the file and key."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name}: not valid TOML ({exc}); fix the file and retry") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise SpecError(f"{path.name}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    budget = data.get("budget", "smoke")
    if budget not in BUDGETS:
        raise SpecError(f"{path.name}: 'budget' must be one of {BUDGETS}, got {budget!r}")
    workloads = _list(path, data, "workloads", offline_workloads())
    for name in workloads:
        try:
            get_workload(name)
        except UsageError as exc:
            raise SpecError(f"{path.name}: {exc}") from None
    modes = data.get("modes", {})
    if not isinstance(modes, dict) or not all(isinstance(v, list) for v in modes.values()):
        raise SpecError(f"{path.name}: 'modes' must be a table of backend = [mode, ...]")
    timeout = data.get("timeout_s", 600)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise SpecError(f"{path.name}: 'timeout_s' must be a positive number, got {timeout!r}")
    limit = data.get("memory_limit_mb")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise SpecError(f"{path.name}: 'memory_limit_mb' must be a positive integer, got {limit!r}")
    latency = data.get("latency_batch_sizes", [1])
    if not isinstance(latency, list) or not latency or not all(isinstance(b, int) and b > 0 for b in latency):
        raise SpecError(f"{path.name}: 'latency_batch_sizes' must be a list of positive integers, got {latency!r}")
    repeats = data.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise SpecError(f"{path.name}: 'repeats' must be a positive integer, got {repeats!r}")
    timing = data.get("timing")
    if timing is not None and timing not in TIMINGS:
        raise SpecError(f"{path.name}: 'timing' must be one of {TIMINGS}, got {timing!r}")
    confirm = data.get("confirm", True)
    if not isinstance(confirm, bool):
        raise SpecError(f"{path.name}: 'confirm' must be true or false, got {confirm!r}")
    delay = data.get("confirm_delay_s", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise SpecError(f"{path.name}: 'confirm_delay_s' must be a number of seconds >= 0, got {delay!r}")
    budget_s = data.get("time_budget_s")
    if budget_s is not None and (not isinstance(budget_s, (int, float)) or isinstance(budget_s, bool) or budget_s <= 0):
        raise SpecError(f"{path.name}: 'time_budget_s' must be a positive number of seconds, got {budget_s!r}")
    return Suite(name=str(data.get("name", path.stem)), latency_batch_sizes=tuple(latency), timing=timing,
                 description=str(data.get("description", "")),
                 budget=budget, workloads=workloads,
                 backends=_list(path, data, "backends", ()),
                 modes={k: tuple(v) for k, v in modes.items()},
                 precisions=_list(path, data, "precisions", ("fp32",)), timeout_s=float(timeout),
                 memory_limit_mb=limit, repeats=repeats, confirm=confirm, confirm_delay_s=float(delay),
                 time_budget_s=None if budget_s is None else float(budget_s), slurm=_slurm(path, data))


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (suites/NAME.toml) or by path to a .toml file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SUITES_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise UsageError(f"unknown suite {name_or_path!r}; known: {', '.join(suite_names())} (or a path to a .toml)")
    return parse_suite(path)
