"""Does the suite add or hide time? Hand-written mnist_cnn loops vs the suite's figures, train and inference.

The suite's own timed rows (the fixed training batch and inference batch of harness.batching.steady_rows) are
written to an .npz that every hand-written loop reads, so both sides run the same real data. For each framework and
round, runs in fresh processes (a) benchmarks/handwritten/<fw>_cnn.py with the suite's kernels and (b)
`run_bench.py run --suite benchmarks/overhead.toml --workloads mnist_cnn --backends <fw> --epochs 1`, reading (b)'s
train and infer samples/s back with reports.export.load_dataframe. The a/b order alternates between rounds so slow
drift of the machine cancels. The gate is two-sided: LOW <= suite/hand <= HIGH for both phases. Info-only loops
(another idiom the user might write) are reported beside it. Prints a table; writes JSON to --out.

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
PHASES = ("train", "infer")
LOW, HIGH = 0.95, 1.05
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "torch": {"hand": (), "hand_nchw": ("--layout", "nchw")},
    "tensorflow": {"hand": ()},
    "jax": {"hand": (), "hand_window": ("--train-pool", "window", "--infer-pool", "window"),
            "hand_maximum": ("--train-pool", "maximum")},
}
"""Hand-written loops per framework: "hand" runs the suite's kernels and layout (gated); the others are idioms a user
might write instead, reported for information: torch with the images in a fresh NCHW tensor (torchvision's layout;
the suite's 1-channel NHWC data permuted has channels_last strides, so torch runs its convs channels_last), JAX with
nnx.max_pool in training too, or with a jnp.maximum chain of strided slices (ties split the gradient; about 1.6x
slower to train than the suite's stop-gradient + jnp.where formulation)."""


def _env() -> dict[str, str]:
    """Both sides' environment: the hand-written loops run under the same pinned glibc malloc as the suite's cells
    (harness.allocator), so the ratio measures the harness, not the allocator's state."""
    from harness.allocator import malloc_env

    return {**os.environ, **malloc_env(os.environ), "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def write_rows(path: Path) -> dict[str, Any]:
    """The suite's timed mnist_cnn rows (training batch with labels, inference batch) as an .npz; their sizes."""
    import numpy as np

    from harness.batching import effective_batch_size, steady_rows
    from suites.data.registry import load_dataset
    from suites.registry import get_workload

    task = get_workload("mnist_cnn").task_for("standard", epochs=1)
    data = (load_dataset(task.dataset, task.seed, task.test_fraction).limited(task.train_limit, task.eval_limit)
            .with_validation(task.validation_fraction, task.seed))
    bs = effective_batch_size(task.batch_size, len(data.x_train))
    train_idx, infer_idx = steady_rows(len(data.x_train), len(data.x_test), bs)
    np.savez(path, x_train=data.x_train[train_idx], y_train=data.y_train[train_idx], x_test=data.x_test[infer_idx])
    return {"batch_size": bs, "dataset": task.dataset}


def run_handwritten(framework: str, data: Path, trials: int, steps: int, timeout: float,
                    extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One fresh process of a hand-written loop; its JSON line."""
    script = HERE / "handwritten" / f"{framework}_cnn.py"
    cmd = [sys.executable, str(script), "--data", str(data), "--trials", str(trials), "--steps", str(steps), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    return {**{p: result[p]["median"] for p in PHASES}, "detail": result, "wall_s": time.perf_counter() - start}


def run_suite(framework: str, suite: str, epochs: int | None, timeout: float) -> dict[str, Any]:
    """One fresh `run_bench.py run` of mnist_cnn on one backend into a temporary database; its two figures."""
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
        if rows.empty or rows.iloc[0]["status"] != "ok":
            detail = rows.iloc[0]["error"] if not rows.empty else proc.stdout[-2000:] + proc.stderr[-2000:]
            raise RuntimeError(f"suite run of {framework} gave no figure (rc {proc.returncode}): {detail}")
        row = rows.iloc[0]
        return {"train": float(row["train_samples_per_s"]), "infer": float(row["infer_samples_per_s"]),
                "mode": str(row["mode"]), "wall_s": wall}


def measure(frameworks: list[str], rounds: int, trials: int, steps: int, suite: str, epochs: int | None,
            timeout: float, data: Path, log: Any) -> dict[str, Any]:
    """Interleaved rounds: even rounds hand-written first, odd rounds suite first."""
    runs: dict[str, dict[str, list[Any]]] = {fw: {k: [] for k in (*VARIANTS[fw], "suite")} for fw in frameworks}
    for r in range(rounds):
        for fw in frameworks:
            kinds = tuple(VARIANTS[fw])
            for kind in (*kinds, "suite") if r % 2 == 0 else ("suite", *kinds):
                load = os.getloadavg()[0]
                out = (run_suite(fw, suite, epochs, timeout) if kind == "suite" else
                       run_handwritten(fw, data, trials, steps, timeout, VARIANTS[fw][kind]))
                out["round"], out["load_before"] = r, load
                runs[fw][kind].append(out)
                print(f"round {r + 1}/{rounds} {fw:<10} {kind:<11} train {out['train']:8.1f} infer "
                      f"{out['infer']:9.1f} samples/s (load {load:.2f}, {out['wall_s']:.0f} s)", file=log, flush=True)
    return {"summary": summarize(runs), "runs": runs}


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per framework and phase: medians over rounds, suite/hand per variant and per round, and the gate."""
    summary: dict[str, Any] = {}
    for fw, kinds in runs.items():
        out: dict[str, Any] = {"suite_mode": kinds["suite"][0]["mode"]}
        for phase in PHASES:
            suite_fig = statistics.median(x[phase] for x in kinds["suite"])
            row: dict[str, Any] = {"suite_median": suite_fig}
            for kind in (k for k in kinds if k != "suite"):
                hand = statistics.median(x[phase] for x in kinds[kind])
                row[kind] = {"hand_median": hand, "ratio": suite_fig / hand,
                             "ratio_per_round": [s[phase] / h[phase] for h, s in
                                                 zip(kinds[kind], kinds["suite"], strict=True)]}
            row["in_band"] = LOW <= row["hand"]["ratio"] <= HIGH
            out[phase] = row
        summary[fw] = out
    return summary


def table(summary: dict[str, Any]) -> str:
    head = f"{'framework':<11}{'phase':<7}{'loop':<12}{'hand-written':>14}{'suite':>11}{'suite/hand':>12}  per round"
    lines = [head, "-" * len(head)]
    for fw, s in summary.items():
        for phase in PHASES:
            row = s[phase]
            for kind in (k for k in row if k.startswith("hand")):
                r = row[kind]
                mark = ("" if row["in_band"] else f"  outside {LOW}-{HIGH}") if kind == "hand" else "  (info)"
                rounds = " ".join(f"{x:.3f}" for x in r["ratio_per_round"])
                lines.append(f"{fw:<11}{phase:<7}{kind:<12}{r['hand_median']:>14.1f}{row['suite_median']:>11.1f}"
                             f"{r['ratio']:>12.3f}  {rounds}{mark}")
    lines.append(f"(samples/s, median over rounds of per-process medians; gate {LOW} <= suite/hand <= {HIGH} for "
                 "'hand', the loop with the suite's kernels and layout)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated (default all three)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved a/b rounds (default 3)")
    parser.add_argument("--trials", type=int, default=7, help="hand-written trials (default 7)")
    parser.add_argument("--steps", type=int, default=30, help="hand-written training steps per trial (default 30; "
                                                              "inference trials take 3x as many calls)")
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
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="overhead-data-") as tmp:
        data = Path(tmp) / "rows.npz"
        rows = write_rows(data)
        result = measure(frameworks, args.rounds, args.trials, args.steps, args.suite, args.epochs or None,
                         args.timeout, data, sys.stderr)
    result.update({"config": {k: v for k, v in vars(args).items() if k != "out"} | {"frameworks": frameworks},
                   "rows": rows, "load_start": load_start, "load_end": os.getloadavg(), "cpus": os.cpu_count(),
                   "python": sys.version.split()[0], "band": [LOW, HIGH]})
    print(table(result["summary"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0 if all(s[p]["in_band"] for s in result["summary"].values() for p in PHASES) else 1


if __name__ == "__main__":
    sys.exit(main())
