"""The overhead benchmark's hand-written loops run standalone on the suite's own rows and print one JSON line each
(no timing checks), and its two-sided gate judges both phases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HANDWRITTEN = REPO / "benchmarks" / "handwritten"
sys.path.insert(0, str(REPO / "benchmarks"))

import overhead  # noqa: E402


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "rows.npz"
    info = overhead.write_rows(path)
    assert info["batch_size"] == 128
    return path


@pytest.mark.timeout(300)
@pytest.mark.parametrize("framework", ["torch", "tensorflow", "jax"])
def test_handwritten_loop_prints_train_and_infer(framework: str, rows: Path, tmp_path: Path) -> None:
    pytest.importorskip({"tensorflow": "tensorflow", "torch": "torch", "jax": "flax"}[framework])
    # Run from an empty directory with no PYTHONPATH: the script must not need the suite's packages.
    proc = subprocess.run([sys.executable, str(HANDWRITTEN / f"{framework}_cnn.py"), "--data", str(rows),
                           "--trials", "2", "--steps", "3"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=280, env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["framework"] == framework and result["batch_size"] == 128
    for phase in ("train", "infer"):
        rates = result[phase]["samples_per_s"]
        assert len(rates) == 2 and all(isinstance(r, float) and r > 0 for r in rates)
        assert result[phase]["median"] == pytest.approx(sum(rates) / 2)


def test_handwritten_scripts_import_nothing_from_the_suite() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(suites|harness|backends|reports|common|store|commands)\b",
                         re.MULTILINE)
    scripts = sorted(HANDWRITTEN.glob("*_cnn.py"))
    assert len(scripts) == 3
    for script in scripts:
        assert not pattern.search(script.read_text()), script.name


def _run(train: float, infer: float, hand: float = 100.0) -> dict[str, list[dict[str, float | str]]]:
    return {"hand": [{"train": hand, "infer": hand}], "suite": [{"train": train, "infer": infer, "mode": "m"}]}


@pytest.mark.parametrize(("train", "infer", "in_band"), [(100, 100, (True, True)), (96, 104, (True, True)),
                                                         (94, 100, (False, True)), (100, 106, (True, False))])
def test_the_gate_is_two_sided_for_each_phase(train: float, infer: float, in_band: tuple[bool, bool]) -> None:
    summary = overhead.summarize({"torch": _run(train, infer)})["torch"]
    assert (summary["train"]["in_band"], summary["infer"]["in_band"]) == in_band
