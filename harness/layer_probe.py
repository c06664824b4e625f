"""Which neutral layer kinds each backend builds, asked of each in its own child process (frameworks import there).

`python -m harness.layer_probe BACKEND` prints one JSON line: {"kinds": [...]} or {"error": reason}.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backends.registry import get_backend, load_adapter_class
from harness.env import REPO
from harness.launch import child_env

PROBE_TIMEOUT_S = 180.0


def kinds_of(backend: str) -> dict[str, Any]:
    """{"kinds": [...]} for an installed backend that declares its builders, else {"error": why}; never raises."""
    missing = get_backend(backend).missing()
    if missing:
        return {"error": f"not installed (missing {', '.join(missing)})"}
    try:
        kinds = load_adapter_class(backend).layer_kinds()
    except Exception as exc:  # noqa: BLE001 - a backend that fails to import is reported, not fatal
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"kinds": list(kinds)} if kinds is not None else {"error": "keeps no LAYER_BUILDERS table"}


def probe(backends: list[str]) -> dict[str, dict[str, Any]]:
    """kinds_of for every backend, each in a fresh interpreter, all at once."""
    def one(backend: str) -> dict[str, Any]:
        try:
            out = subprocess.run([sys.executable, "-m", "harness.layer_probe", backend], cwd=REPO, env=child_env(),
                                 capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"error": f"probe timed out after {PROBE_TIMEOUT_S:.0f} s"}
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            return {"error": f"probe exited {out.returncode}: {out.stderr.strip().splitlines()[-1:]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    with ThreadPoolExecutor(max_workers=max(1, len(backends))) as pool:
        return dict(zip(backends, pool.map(one, backends), strict=True))


def main(argv: list[str]) -> int:
    print(json.dumps(kinds_of(argv[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
