"""All workloads by name, discovered: every module of suites/models/, every *.py file in the folders of
$BENCH_WORKLOADS_PATH and every file of $BENCH_WORKLOAD_FILES (what `--workload-file` sets) that defines
`workload() -> Workload` (or `workloads() -> list[Workload]`, for the sizes of a sweep).

A module may set `ORDER = <int>` to place its workload in listings and suites (lower first; default DEFAULT_ORDER,
ties by name). `OFFLINE_WORKLOADS` is computed on each access, so it reflects the variables as they are now.
Each workload keeps its origin (file path, sha256 of the bytes that ran, built in or not) for the records.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from suites import models
from suites.errors import SpecError, UsageError
from suites.spec import Workload

WORKLOADS_PATH_ENV = "BENCH_WORKLOADS_PATH"
"""Extra workload folders, separated by os.pathsep; each *.py file with a workload() adds one workload."""

WORKLOAD_FILES_ENV = "BENCH_WORKLOAD_FILES"
"""Workload files, absolute paths separated by os.pathsep, each of which must define workload(): set by
`--workload-file` (add_workload_files) and inherited by every cell and parity process the command starts."""

DEFAULT_ORDER = 1000
"""Where a workload without an ORDER constant sorts: after the bundled ones."""

Origin = dict[str, Any]  # {"path": str, "sha256": str, "builtin": bool}
Rank = tuple[int, str, int]
"""Listing position: (ORDER, the name of its module's first workload, its index there): a module's workloads() keep
their own order, next to each other."""
Found = tuple[Rank, Workload, Origin]  # (listing position, workload, where it came from)
_LOADED: dict[Path, tuple[ModuleType, str]] = {}
"""Workload files imported by this process: module and the sha256 of the bytes it ran."""


def _made(where: str, factory: Any) -> list[Workload]:
    """What a module's workload() or workloads() returns, as a list; SpecError naming the file otherwise."""
    try:
        made = factory()
    except Exception as exc:
        raise SpecError(f"{where}: {factory.__name__}() raised {type(exc).__name__}: {exc}") from exc
    items = list(made) if factory.__name__ == "workloads" and isinstance(made, (list, tuple)) else [made]
    for item in items:
        if not isinstance(item, Workload):
            raise SpecError(f"{where}: {factory.__name__}() must return "
                            f"{'a list of' if factory.__name__ == 'workloads' else 'a'} suites.spec.Workload, "
                            f"got {type(item).__name__}")
    return items


def _from_module(module: ModuleType, origin: Origin, required: bool = False) -> list[Found]:
    where = origin["path"]
    factories = [f for f in (getattr(module, "workload", None), getattr(module, "workloads", None)) if callable(f)]
    if not factories:
        if required:
            raise SpecError(f"{where}: defines no workload() function; add `def workload() -> Workload:` returning "
                            "your model and task (see examples/my_model.py)")
        return []
    order = getattr(module, "ORDER", DEFAULT_ORDER)
    if not isinstance(order, int) or isinstance(order, bool):
        raise SpecError(f"{where}: ORDER must be an integer, got {order!r}")
    made = [workload for factory in factories for workload in _made(where, factory)]
    return [((order, made[0].name, i), workload, origin) for i, workload in enumerate(made)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def _bundled() -> tuple[Found, ...]:
    found: list[Found] = []
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"{models.__name__}.{info.name}")
        origin = {"path": f"suites/models/{info.name}.py", "sha256": _sha256(Path(str(module.__file__))),
                  "builtin": True}
        found += _from_module(module, origin)
    return tuple(found)


def _load_file(path: Path, via: str) -> tuple[ModuleType, str]:
    """Import one workload file by path, under a private module name unique to that path; the module and the
    sha256 of the exact bytes it ran."""
    if path in _LOADED:
        return _LOADED[path]
    name = f"_bench_workload_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise SpecError(f"{via}: cannot import {path}")
    source = path.read_bytes()
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the user's own workload file
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(f"{via}: {path} failed to import ({type(exc).__name__}: {exc}); fix the file") from exc
    _LOADED[path] = (module, hashlib.sha256(source).hexdigest())
    return _LOADED[path]


def _from_file(path: Path, via: str, required: bool) -> list[Found]:
    module, digest = _load_file(path, via)
    return _from_module(module, {"path": str(path), "sha256": digest, "builtin": False}, required)


def _external(path_value: str) -> list[Found]:
    found: list[Found] = []
    for folder in (Path(p).expanduser().resolve() for p in path_value.split(os.pathsep) if p):
        if not folder.is_dir():
            raise UsageError(f"{WORKLOADS_PATH_ENV}: {folder} is not a directory; create it or fix the variable")
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                found += _from_file(path, f"${WORKLOADS_PATH_ENV}", required=False)
    return found


def _checked_file(text: str) -> Path:
    """A workload file's absolute path; UsageError when it is missing, a folder or not a .py file."""
    path = Path(text).expanduser().resolve()
    if path.is_dir():
        raise UsageError(f"workload file {text!r} is a folder; give one .py file (name folders in "
                         f"${WORKLOADS_PATH_ENV})")
    if not path.exists():
        raise UsageError(f"workload file {text!r} does not exist" + ("" if str(path) == text else f" ({path})"))
    if os.pathsep in str(path):
        raise UsageError(f"workload file {text!r}: its path holds {os.pathsep!r}; move or rename it")
    if path.suffix != ".py":
        raise UsageError(f"workload file {text!r} is not a .py file; write a Python file that defines workload()")
    return path


def _files(files_value: str) -> list[Found]:
    found: list[Found] = []
    for path in dict.fromkeys(_checked_file(p) for p in files_value.split(os.pathsep) if p):
        found += _from_file(path, "workload file", required=True)
    return found


@functools.cache
def _discover(path_value: str, files_value: str) -> dict[str, tuple[Workload, Origin]]:
    workloads: dict[str, tuple[Workload, Origin]] = {}
    found = [*_bundled(), *_external(path_value)]
    seen = {origin["path"] for _, _, origin in found}
    found += [f for f in _files(files_value) if f[2]["path"] not in seen]  # a file also in a folder: once
    for _, workload, origin in sorted(found, key=lambda f: f[0]):
        if workload.name in workloads:
            kept, other = sorted((workloads[workload.name][1], origin), key=lambda o: not o["builtin"])
            kind = " (built in)" if kept["builtin"] else ""
            raise SpecError(f"workload {workload.name!r} is defined twice, in {kept['path']}{kind} and "
                            f"{other['path']}; rename the one in {other['path']}")
        workloads[workload.name] = (workload, origin)
    return workloads


def _workloads() -> dict[str, tuple[Workload, Origin]]:
    return _discover(os.environ.get(WORKLOADS_PATH_ENV, ""), os.environ.get(WORKLOAD_FILES_ENV, ""))


def add_workload_files(paths: Sequence[str]) -> tuple[str, ...]:
    """Add the workloads of these files to this process and to every process it starts after (through
    $BENCH_WORKLOAD_FILES); their names. UsageError/SpecError (the variable unchanged) for a missing or non-.py
    file, one without workload(), a workload() that raises or returns no Workload, or a name already taken."""
    files = [str(_checked_file(p)) for p in paths]
    before = os.environ.get(WORKLOAD_FILES_ENV)
    kept = [p for p in (before or "").split(os.pathsep) if p]
    os.environ[WORKLOAD_FILES_ENV] = os.pathsep.join(dict.fromkeys([*kept, *files]))
    try:
        found = _workloads()
    except (SpecError, UsageError):
        if before is None:
            del os.environ[WORKLOAD_FILES_ENV]
        else:
            os.environ[WORKLOAD_FILES_ENV] = before
        raise
    return tuple(name for name, (_, origin) in found.items() if origin["path"] in files)


def workload_names() -> tuple[str, ...]:
    """Every workload, in listing order (ORDER, then name; a module's workloads() in their own order)."""
    return tuple(_workloads())


def offline_workloads() -> tuple[str, ...]:
    """Workloads whose data needs no network and that belong to no sweep, in listing order: what a suite's
    workloads = "all" means."""
    return tuple(name for name, (w, _) in _workloads().items() if not w.online and w.sweep is None)


def _entry(name: str) -> tuple[Workload, Origin]:
    workloads = _workloads()
    if name not in workloads:
        raise UsageError(f"unknown workload {name!r}; known: {', '.join(workloads)} (add one as a file in "
                         f"suites/models/, in a folder named by ${WORKLOADS_PATH_ENV}, or with --workload-file)")
    return workloads[name]


def get_workload(name: str) -> Workload:
    """The workload called `name`, or a UsageError listing the known names."""
    return _entry(name)[0]


def workload_origin(name: str) -> Origin:
    """Where the workload called `name` came from: {'path', 'sha256' of the file's bytes, 'builtin'}."""
    return dict(_entry(name)[1])


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "OFFLINE_WORKLOADS":  # computed on access: see the module docstring
        return offline_workloads()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
