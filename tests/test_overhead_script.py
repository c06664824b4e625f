"""The overhead benchmark's hand-written torch loop runs standalone and prints its one JSON line (no timing checks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "handwritten" / "torch_cnn.py"


@pytest.mark.timeout(120)
def test_torch_handwritten_prints_one_json_line(tmp_path: Path) -> None:
    # Run from an empty directory with no PYTHONPATH: the script must not need the suite's packages.
    proc = subprocess.run([sys.executable, str(SCRIPT), "--trials", "2", "--steps", "3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=110, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["framework"] == "torch"
    rates = result["samples_per_s"]
    assert len(rates) == 2 and all(isinstance(r, float) and r > 0 for r in rates)
    assert result["median"] == pytest.approx(sum(rates) / 2)
    assert result["steps"] == 3 and result["trials"] == 2


def test_handwritten_scripts_import_nothing_from_the_suite() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(suites|harness|backends|reports)\b", re.MULTILINE)
    scripts = sorted(SCRIPT.parent.glob("*_cnn.py"))
    assert len(scripts) == 3
    for script in scripts:
        assert not pattern.search(script.read_text()), script.name
