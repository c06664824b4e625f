"""Every import between the top-level packages points down the layers (docs/extending.md draws them)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER = {"common": 0, "suites": 1, "store": 2, "backends": 2, "harness": 3, "reports": 3, "commands": 4,
         "run_bench": 5}
"""A package may import only packages of a lower layer (or itself); packages of one layer never import each other."""


def imported_tops(source: str) -> set[str]:
    """Top-level names of every import in `source` (deferred imports inside functions included)."""
    tops = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


def upward_imports(root: Path) -> list[str]:
    """'file: imports X (layer n ≥ own layer m)' for every import that does not point down."""
    found = []
    files = [root / "run_bench.py"] + [f for top in LAYER for f in sorted((root / top).rglob("*.py"))]
    for path in files:
        if not path.exists():
            continue
        own = path.relative_to(root).parts[0].removesuffix(".py")
        for top in sorted(imported_tops(path.read_text()) & set(LAYER)):
            if top != own and LAYER[top] >= LAYER[own]:
                found.append(f"{path.relative_to(root)}: imports {top} (layer {LAYER[top]}, own layer {LAYER[own]})")
    return found


def test_every_import_points_down() -> None:
    assert upward_imports(REPO) == []


def test_every_top_level_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages - set(LAYER) == set(), "give the new package a layer in LAYER (and in docs/extending.md)"


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    for top in LAYER:
        (tmp_path / top).mkdir()
    (tmp_path / "reports" / "planted.py").write_text("def f():\n    from harness import status\n")
    (tmp_path / "store" / "planted.py").write_text("import reports.flat\n")
    (tmp_path / "suites" / "fine.py").write_text("from common.units import mib\n")
    assert upward_imports(tmp_path) == [
        "store/planted.py: imports reports (layer 3, own layer 2)",
        "reports/planted.py: imports harness (layer 3, own layer 3)",
    ]
