"""All workloads by name, discovered: every module of suites/models/ and every *.py file in the folders of
$BENCH_WORKLOADS_PATH that defines `workload() -> Workload`.

A module may set `ORDER = <int>` to place its workload in listings and suites (lower first; default DEFAULT_ORDER,
ties by name). `OFFLINE_WORKLOADS` is computed on each access, so it reflects $BENCH_WORKLOADS_PATH as it is now.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from suites import models
from suites.errors import SpecError, UsageError
from suites.spec import Workload

WORKLOADS_PATH_ENV = "BENCH_WORKLOADS_PATH"
"""Extra workload folders, separated by os.pathsep; each *.py file with a workload() adds one workload."""

DEFAULT_ORDER = 1000
"""Where a workload without an ORDER constant sorts: after the bundled ones."""

Found = tuple[int, Workload, str]  # (order, workload, where it came from)


def _from_module(module: ModuleType, origin: str) -> list[Found]:
    factory = getattr(module, "workload", None)
    if not callable(factory):
        return []
    workload = factory()
    if not isinstance(workload, Workload):
        raise SpecError(f"{origin}: workload() must return a suites.spec.Workload, got {type(workload).__name__}")
    order = getattr(module, "ORDER", DEFAULT_ORDER)
    if not isinstance(order, int) or isinstance(order, bool):
        raise SpecError(f"{origin}: ORDER must be an integer, got {order!r}")
    return [(order, workload, origin)]


@functools.cache
def _bundled() -> tuple[Found, ...]:
    found: list[Found] = []
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"{models.__name__}.{info.name}")
        found += _from_module(module, f"suites/models/{info.name}.py")
    return tuple(found)


def _load_file(path: Path) -> ModuleType:
    """Import one workload file by path, under a private module name unique to that path."""
    name = f"_bench_workload_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"{WORKLOADS_PATH_ENV}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(f"{WORKLOADS_PATH_ENV}: {path} failed to import ({type(exc).__name__}: {exc}); "
                        "fix the file or remove its folder from the variable") from exc
    return module


def _external(path_value: str) -> list[Found]:
    found: list[Found] = []
    for folder in (Path(p).expanduser().resolve() for p in path_value.split(os.pathsep) if p):
        if not folder.is_dir():
            raise UsageError(f"{WORKLOADS_PATH_ENV}: {folder} is not a directory; create it or fix the variable")
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                found += _from_module(_load_file(path), str(path))
    return found


@functools.cache
def _discover(path_value: str) -> dict[str, Workload]:
    workloads: dict[str, Workload] = {}
    origins: dict[str, str] = {}
    for _, workload, origin in sorted((*_bundled(), *_external(path_value)), key=lambda f: (f[0], f[1].name)):
        if workload.name in workloads:
            raise SpecError(f"workload {workload.name!r} is defined twice, in {origins[workload.name]} and {origin}; "
                            "rename one")
        workloads[workload.name], origins[workload.name] = workload, origin
    return workloads


def _workloads() -> dict[str, Workload]:
    return _discover(os.environ.get(WORKLOADS_PATH_ENV, ""))


def workload_names() -> tuple[str, ...]:
    """Every workload, in listing order (ORDER, then name)."""
    return tuple(_workloads())


def offline_workloads() -> tuple[str, ...]:
    """Workloads whose data needs no network, in listing order: what a suite's workloads = "all" means."""
    return tuple(name for name, w in _workloads().items() if not w.online)


def get_workload(name: str) -> Workload:
    """The workload called `name`, or a UsageError listing the known names."""
    workloads = _workloads()
    if name not in workloads:
        raise UsageError(f"unknown workload {name!r}; known: {', '.join(workloads)} (add one as a file in "
                         f"suites/models/ or in a folder named by ${WORKLOADS_PATH_ENV})")
    return workloads[name]


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "OFFLINE_WORKLOADS":  # computed on access: see the module docstring
        return offline_workloads()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
