"""Does the suite add overhead? Hand-written mnist_cnn loops vs the suite's figure for the same workload.

For each framework and round, runs in fresh processes (a) benchmarks/handwritten/<fw>_cnn.py and (b)
`run_bench.py run --suite <suite> --workloads mnist_cnn --backends <fw> --epochs 1 --db <tmp> --quiet`, reading
(b)'s train_samples_per_s (median of its trials) back with reports.export.load_dataframe. The a/b order
alternates between rounds so slow drift of the machine cancels. Prints a table; writes JSON to --out.

    python benchmarks/overhead.py --rounds 3 --out results/overhead.json
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
HERE = Path(__file__).resolve().parent
FRAMEWORKS = ("torch", "tensorflow", "jax")
TARGET = 0.98
JAX_POOLS = {"hand": ("--pool", "slices"), "hand_window": ("--pool", "window")}
"""JAX's baseline uses the suite's strided-slice max pool (same kernels, so the ratio is harness overhead only);
hand_window is the idiomatic nnx.max_pool loop, reported for information (its select_and_scatter backward is slow)."""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def load_average() -> list[float]:
    return list(os.getloadavg())


def run_handwritten(framework: str, trials: int, steps: int, timeout: float, extra: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    """One fresh process of the hand-written loop; its JSON line."""
    script = HERE / "handwritten" / f"{framework}_cnn.py"
    cmd = [sys.executable, str(script), "--trials", str(trials), "--steps", str(steps), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def run_suite(framework: str, suite: str, epochs: int | None, timeout: float) -> dict[str, Any]:
    """One fresh `run_bench.py run` of mnist_cnn on one backend into a temporary database; its train figure."""
    from reports.export import load_dataframe

    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        db = str(Path(tmp) / "bench.sqlite")
        cmd = [sys.executable, "run_bench.py", "run", "--suite", suite, "--workloads", "mnist_cnn",
               "--backends", framework, "--db", db, "--quiet"]
        if epochs:
            cmd += ["--epochs", str(epochs)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - start
        df = load_dataframe(db)
        rows = df[(df["workload"] == "mnist_cnn") & (df["backend"] == framework)]
        if rows.empty or rows.iloc[0]["status"] != "ok" or rows.iloc[0]["train_samples_per_s"] is None:
            detail = rows.iloc[0]["error"] if not rows.empty else proc.stdout[-2000:] + proc.stderr[-2000:]
            raise RuntimeError(f"suite run of {framework} gave no figure (rc {proc.returncode}): {detail}")
        row = rows.iloc[0]
        return {"median": float(row["train_samples_per_s"]), "mode": str(row["mode"]),
                "cv": _float(row.get("train_samples_per_s_cv")), "wall_s": wall}


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def measure(frameworks: list[str], rounds: int, trials: int, steps: int, suite: str, epochs: int | None,
            timeout: float, log: Any) -> dict[str, Any]:
    """Interleaved rounds: even rounds hand-written first, odd rounds suite first."""
    runs: dict[str, dict[str, list[Any]]] = {fw: {"hand": [], "suite": []} for fw in frameworks}
    if "jax" in runs:
        runs["jax"]["hand_window"] = []
    for r in range(rounds):
        for fw in frameworks:
            kinds = tuple(k for k in runs[fw] if k != "suite")
            order = (*kinds, "suite") if r % 2 == 0 else ("suite", *kinds)
            for kind in order:
                load = load_average()
                if kind != "suite":
                    out = run_handwritten(fw, trials, steps, timeout, JAX_POOLS[kind] if fw == "jax" else ())
                else:
                    out = run_suite(fw, suite, epochs, timeout)
                out["round"], out["load_before"] = r, load
                runs[fw][kind].append(out)
                print(f"round {r + 1}/{rounds} {fw:<10} {kind:<11} {out['median']:9.1f} samples/s "
                      f"(load {load[0]:.2f}, {out['wall_s']:.0f} s)", file=log, flush=True)
    summary = {}
    for fw, kinds in runs.items():
        hand = statistics.median(x["median"] for x in kinds["hand"])
        suite_fig = statistics.median(x["median"] for x in kinds["suite"])
        per_round = [s["median"] / h["median"] for h, s in zip(kinds["hand"], kinds["suite"], strict=True)]
        summary[fw] = {"hand_median": hand, "suite_median": suite_fig, "ratio": suite_fig / hand,
                       "ratio_per_round": per_round, "meets_target": suite_fig / hand >= TARGET,
                       "suite_mode": kinds["suite"][0]["mode"]}
        if "hand_window" in kinds:
            window = statistics.median(x["median"] for x in kinds["hand_window"])
            summary[fw]["hand_window_median"] = window
            summary[fw]["ratio_vs_window"] = suite_fig / window
    return {"summary": summary, "runs": runs}


def table(summary: dict[str, Any]) -> str:
    head = f"{'framework':<11}{'mode':<7}{'hand-written':>14}{'suite':>12}{'suite/hand':>12}  per-round ratios"
    lines, footnote = [head, "-" * len(head)], None
    for fw, s in summary.items():
        rounds = " ".join(f"{r:.3f}" for r in s["ratio_per_round"])
        flag = "" if s["meets_target"] else f"  < {TARGET}"
        lines.append(f"{fw:<11}{s['suite_mode']:<7}{s['hand_median']:>14.1f}{s['suite_median']:>12.1f}"
                     f"{s['ratio']:>12.3f}  {rounds}{flag}")
        if "hand_window_median" in s:
            lines.append(f"{fw + '*':<11}{s['suite_mode']:<7}{s['hand_window_median']:>14.1f}"
                         f"{s['suite_median']:>12.1f}{s['ratio_vs_window']:>12.3f}  (info only)")
            footnote = ("jax: hand-written with the suite's strided-slice max pool; jax*: idiomatic nnx.max_pool "
                        "(reduce_window, select_and_scatter backward)")
    lines.append(f"(samples/s, median over rounds of per-run medians; target suite/hand >= {TARGET})")
    if footnote:
        lines.append(footnote)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated (default all three)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved a/b rounds (default 3)")
    parser.add_argument("--trials", type=int, default=7, help="hand-written trials (default 7)")
    parser.add_argument("--steps", type=int, default=30, help="hand-written steps per trial (default 30)")
    parser.add_argument("--suite", default=str(HERE / "overhead.toml"),
                        help="suite name or .toml path for the suite runs (default benchmarks/overhead.toml)")
    parser.add_argument("--epochs", type=int, default=1, help="--epochs passed to the suite (0: suite's own)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        parser.error(f"unknown frameworks {sorted(unknown)}; choose from {FRAMEWORKS}")
    sys.path.insert(0, str(REPO))
    load_start = load_average()
    result = measure(frameworks, args.rounds, args.trials, args.steps, args.suite, args.epochs or None,
                     args.timeout, sys.stderr)
    result.update({"config": {k: v for k, v in vars(args).items() if k != "out"} | {"frameworks": frameworks},
                   "load_start": load_start, "load_end": load_average(), "cpus": os.cpu_count(),
                   "python": sys.version.split()[0], "target": TARGET})
    print(table(result["summary"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
