"""Child process of the calibration: `python -m harness.peak_worker BACKEND DEVICE OUT.json PRECISION...` measures
one framework's own peak GEMM rate per precision on one device and writes {precision: result or {'error': ...}}."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from backends.registry import get_backend, load_adapter_class


def measure(backend: str, device: str, precisions: list[str]) -> dict[str, dict[str, Any]]:
    """{precision: the backend's probe result on `device` ('cpu' or 'cuda'), or {'error': reason}}; never raises."""
    missing = get_backend(backend).missing()
    if missing:
        return {p: {"error": f"not installed (missing {', '.join(missing)})"} for p in precisions}
    try:
        adapter = load_adapter_class(backend)(None, "fp32", device)
        seen = adapter.device_info().get("device")
        if seen != device:
            raise RuntimeError(f"{backend} runs on {seen!r}, not the asked {device!r}")
    except Exception as exc:  # noqa: BLE001 - the backend is left out of the denominator, with the reason
        return {p: {"error": f"{type(exc).__name__}: {exc}"} for p in precisions}
    out: dict[str, dict[str, Any]] = {}
    for precision in precisions:
        try:
            out[precision] = adapter.peak_matmul(precision)
        except Exception as exc:  # noqa: BLE001 - one precision failing (e.g. no bf16 kernel) keeps the others
            tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            out[precision] = {"error": tail[:1000]}
    return out


def main(argv: list[str]) -> int:
    backend, device, out, *precisions = argv
    Path(out).write_text(json.dumps(measure(backend, device, precisions), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
