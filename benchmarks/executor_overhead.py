"""What running the cells elsewhere costs: the smoke suite through each executor, against local, interleaved.

Each round runs `run_bench.py run --suite smoke` once per variant in fresh processes, the variants in a rotated
order: local (fork, the default), local spawn (a new interpreter per cell, as every remote executor uses), ray (a
one-node Ray cluster started by the script on this machine, one cell at a time) and slurm through submitit's local
executor (one job at a time). It reports each variant's wall time per cell (the whole invocation over the cells it
ran) and its overhead per cell against local, and the median ratio of each cell's training samples/s to local's
(the same cell measured the same way, so about 1.0 unless the executor changes the measurement). Writes JSON.

    python benchmarks/executor_overhead.py --rounds 2 --out results/executor_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
VARIANTS: dict[str, list[str]] = {
    "local": [],
    "local spawn": ["--isolation", "spawn"],
    "ray": ["--executor", "ray", "--ray-address", "{ray}"],
    "slurm (submitit local)": ["--executor", "slurm", "--slurm-cluster", "local", "--slurm-folder", "{tmp}/jobs"],
}


def run_variant(name: str, extra: list[str], tmp: Path, ray_address: str, backends: str) -> dict[str, Any]:
    """One smoke run of `name` into its own database: wall seconds, cells, and each ok cell's train samples/s."""
    db = tmp / f"{name.split()[0]}-{time.monotonic_ns()}.sqlite"
    args = [a.format(ray=ray_address, tmp=tmp) for a in extra]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "run_bench.py", "run", "--suite", "smoke", "--backends", backends,
                          "--db", str(db), "-q", *args], cwd=REPO, env=ENV, capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    sys.path.insert(0, str(REPO))
    from reports.export import load_dataframe

    frame = load_dataframe(str(db))
    ok = frame[frame["status"] == "ok"]
    keys = ok["workload"] + "/" + ok["backend"] + "/" + ok["mode"] + "/" + ok["precision"]
    return {"variant": name, "rc": out.returncode, "wall_s": wall_s, "cells": len(frame), "ok": len(ok),
            "train": dict(zip(keys, ok["train_samples_per_s"].astype(float), strict=True))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="torch,tensorflow,jax")
    parser.add_argument("--out", default=str(REPO / "results" / "executor_overhead.json"))
    args = parser.parse_args()
    ray = str(Path(sys.executable).with_name("ray"))
    tmp = Path(tempfile.mkdtemp(prefix="exov"))
    cpus = str(len(os.sched_getaffinity(0)))
    subprocess.run([ray, "start", "--head", "--port=6391", "--num-cpus", cpus, "--include-dashboard=false",
                    "--node-ip-address=127.0.0.1", "--disable-usage-stats"], env=ENV, check=True, capture_output=True)
    runs: list[dict[str, Any]] = []
    try:
        names = list(VARIANTS)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                runs.append(run_variant(name, VARIANTS[name], tmp, "127.0.0.1:6391", args.backends))
                print(f"round {r + 1} {name:<24} {runs[-1]['wall_s']:7.1f} s  {runs[-1]['ok']}/{runs[-1]['cells']} ok",
                      flush=True)
    finally:
        subprocess.run([ray, "stop", "--force"], env=ENV, capture_output=True)
    local = [r for r in runs if r["variant"] == "local"]
    per_cell_local = statistics.median(r["wall_s"] / r["cells"] for r in local)
    summary = []
    for name in VARIANTS:
        mine = [r for r in runs if r["variant"] == name]
        per_cell = statistics.median(r["wall_s"] / r["cells"] for r in mine)
        ratios = [run["train"][k] / base["train"][k] for run, base in zip(mine, local, strict=True)
                  for k in run["train"] if k in base["train"]]
        summary.append({"variant": name, "wall_s": [round(r["wall_s"], 1) for r in mine], "s_per_cell": per_cell,
                        "overhead_s_per_cell": per_cell - per_cell_local,
                        "train_ratio_median": statistics.median(ratios) if ratios else None,
                        "all_ok": all(r["ok"] == r["cells"] and r["rc"] == 0 for r in mine)})
    print(f"\n{'variant':<24} {'s/cell':>7} {'overhead s/cell':>16} {'train/s vs local':>17}  walls")
    for s in summary:
        ratio = f"{s['train_ratio_median']:.3f}" if s["train_ratio_median"] else "-"
        print(f"{s['variant']:<24} {s['s_per_cell']:7.2f} {s['overhead_s_per_cell']:16.2f} {ratio:>17}  {s['wall_s']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
