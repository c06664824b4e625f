"""Coverage by simulation: the hierarchical CI holds 95 % under between-process noise; a within-process one does not."""

from __future__ import annotations

import numpy as np

from common.stats import hierarchical_ci, summarize

CASES = ((3, 5, 0.15, 0.03), (5, 5, 0.10, 0.05), (4, 5, 0.20, 0.02))
"""(processes, trials per process, process-effect CV, trial-noise CV): BENCHMARKS.md sees ±20 % between processes."""
REPLICATES = 120


def _coverage(processes: int, trials: int, process_cv: float, trial_cv: float, rng: np.random.Generator
              ) -> tuple[float, float]:
    """How often each CI holds the true median (100): hierarchical over all processes, and one process's own."""
    hier = within = 0
    for i in range(REPLICATES):
        effects = np.exp(rng.normal(0.0, process_cv, processes))  # log-normal: the population median is 100
        groups = [100.0 * e * (1.0 + rng.normal(0.0, trial_cv, trials)) for e in effects]
        low, high = hierarchical_ci(groups, seed=i, n=500)
        hier += low <= 100.0 <= high
        one = summarize(groups[0], seed=i)
        within += one["ci_low"] <= 100.0 <= one["ci_high"]
    return hier / REPLICATES, within / REPLICATES


def test_hierarchical_ci_covers_and_the_within_process_ci_does_not() -> None:
    rng = np.random.default_rng(20261130)
    for case in CASES:
        hier, within = _coverage(*case, rng)
        assert hier >= 0.93, (case, hier)
        assert within <= 0.6, (case, within)
