"""Do processes forked from one zygote share a speed level? N fresh zygotes x 3 cells each (BENCHMARKS.md §10).

    python benchmarks/zygote_levels.py --zygotes 6 --workload text_transformer --backend jax

Prints each zygote's per-process training medians (samples/s, verdict trial plan). Run on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.registry import get_backend  # noqa: E402
from harness.cell import Cell  # noqa: E402
from harness.launch import ZygotePool  # noqa: E402
from harness.runner import run_cell  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zygotes", type=int, default=6)
    parser.add_argument("--per-zygote", type=int, default=3)
    parser.add_argument("--workload", default="text_transformer")
    parser.add_argument("--backend", default="jax")
    args = parser.parse_args()
    cell = Cell(args.workload, args.backend, get_backend(args.backend).default_mode, timing="verdict")
    levels = []
    for z in range(args.zygotes):
        pool = ZygotePool()
        pool.start([args.backend])
        medians = []
        for _ in range(args.per_zygote):
            rec = run_cell(cell, 300, None, pool)
            ok = rec.get("status") == "ok"
            medians.append(round(rec["timing"]["train"]["median"]) if ok else rec.get("status"))
        pool.close()
        levels.append(medians)
        print(f"zygote {z + 1}: {medians}", flush=True)
    print(json.dumps({"cell": cell.key, "train_samples_per_s": levels}))


if __name__ == "__main__":
    main()
