"""Which backends exist, their modes, and whether each is installed — answered without importing any framework.

A backend is a subpackage of backends/ whose `__init__.py` declares, without importing its framework:
NAME (str), ORDER (int, listing position), MODES (tuple, the first is the default), REQUIRES (importable packages),
VERSIONED (distributions recorded in provenance) and ADAPTER ("module:Class"). Adding a backend is adding such a
folder; nothing here lists them by hand.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from suites.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BackendInfo:
    """A backend's name, modes and the Python packages it needs."""

    name: str
    modes: tuple[str, ...]
    default_mode: str
    requires: tuple[str, ...]
    adapter_path: str
    versioned: tuple[str, ...] = ()
    """Distributions whose versions every record keeps."""

    @classmethod
    def of_package(cls, package: ModuleType) -> BackendInfo:
        """The info a backend package declares (NAME, MODES, REQUIRES, ADAPTER)."""
        modes = tuple(package.MODES)
        return cls(package.NAME, modes, modes[0], tuple(package.REQUIRES), package.ADAPTER,
                   tuple(getattr(package, "VERSIONED", package.REQUIRES)))

    def missing(self) -> list[str]:
        """Required packages that cannot be found."""
        return [pkg for pkg in self.requires if importlib.util.find_spec(pkg) is None]

    @property
    def installed(self) -> bool:
        return not self.missing()


def discover() -> dict[str, BackendInfo]:
    """Every subpackage of backends/ that declares NAME, ordered by its ORDER (then name)."""
    found = []
    for module in pkgutil.iter_modules([str(PACKAGE_DIR)], f"{__package__}."):
        if not module.ispkg:
            continue
        package = importlib.import_module(module.name)
        if hasattr(package, "NAME"):
            found.append((getattr(package, "ORDER", 1000), package.NAME, BackendInfo.of_package(package)))
    return {name: info for _, name, info in sorted(found, key=lambda item: (item[0], item[1]))}


BACKENDS: dict[str, BackendInfo] = discover()
"""The built-in backends by name, in listing order (torch, tensorflow, jax)."""

EXTRA_ENV = "BENCH_EXTRA_BACKENDS"
"""Out-of-tree backends: 'name=package.module:Class:mode1|mode2;...' (the first mode is the default)."""


def extra_backends() -> dict[str, BackendInfo]:
    """Backends declared in $BENCH_EXTRA_BACKENDS (e.g. a plugin, or the test suite's fault injector)."""
    extras = {}
    for entry in filter(None, os.environ.get(EXTRA_ENV, "").split(";")):
        try:
            name, target = entry.split("=", 1)
            module, cls, modes = target.split(":")
        except ValueError:
            raise UsageError(f"{EXTRA_ENV}: {entry!r} is not 'name=module:Class:mode1|mode2'") from None
        mode_list = tuple(modes.split("|"))
        extras[name] = BackendInfo(name, mode_list, mode_list[0], (module.split(".")[0],), f"{module}:{cls}")
    return extras


def all_backends() -> dict[str, BackendInfo]:
    """The built-in backends plus any declared in $BENCH_EXTRA_BACKENDS."""
    return {**BACKENDS, **extra_backends()}


def backend_names() -> tuple[str, ...]:
    """Every backend name, built-in first (in listing order), then those from $BENCH_EXTRA_BACKENDS."""
    return tuple(all_backends())


def get_backend(name: str) -> BackendInfo:
    """The backend called `name`, or a UsageError listing the known names."""
    known = all_backends()
    if name not in known:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(known)}")
    return known[name]


def check_mode(backend: str, mode: str) -> None:
    """Raise UsageError if `mode` is not one of the backend's modes."""
    info = get_backend(backend)
    if mode not in info.modes:
        raise UsageError(f"backend {backend!r} has no mode {mode!r}; modes: {', '.join(info.modes)}")


def load_adapter_class(name: str) -> type:
    """Import and return the adapter class (imports the framework: call only inside a worker process)."""
    module_name, class_name = get_backend(name).adapter_path.split(":")
    return getattr(importlib.import_module(module_name), class_name)
