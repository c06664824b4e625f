"""A cell: one (workload, backend, mode, precision) run under a budget, the unit given to a fresh process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.timing import TrialPlan
from suites.registry import get_workload
from suites.spec import TaskSpec

PLANS = {
    "smoke": TrialPlan(warmup_steps=2, trials=5, min_trial_s=0.05, min_steps_per_trial=2, latency_calls=100),
    "standard": TrialPlan(warmup_steps=5, trials=7, min_trial_s=0.5, latency_calls=100),
    "verdict": TrialPlan(warmup_steps=5, trials=7, min_trial_s=0.25, min_steps_per_trial=3, latency_calls=300),
    "scaling": TrialPlan(warmup_steps=1, trials=3, min_trial_s=0.0, min_steps_per_trial=1, latency_calls=3,
                         idiomatic_epoch=False, count_flops=False),
}
"""Trial plans by name. A suite's `timing` picks one (default: the plan named like its budget): smoke keeps cells
short, standard gives tighter intervals, verdict is the nightly's, long enough per trial to be stable (as pyperf and
asv calibrate loops to a minimum time) with enough latency calls for a real p99, on a small training budget; scaling
is the size sweep's, where one step of the largest sizes takes seconds to minutes on a CPU: one warm-up step, three
one-step trials, no idiomatic epoch and no framework FLOP count (the spec's count stands, as for every cell)."""


@dataclass(frozen=True)
class Cell:
    """What one worker process runs, with the CLI overrides that change the task."""

    workload: str
    backend: str
    mode: str
    precision: str = "fp32"
    budget: str = "smoke"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    device: str = "auto"
    latency_batch_sizes: tuple[int, ...] = (1,)
    timing: str | None = None
    """The trial plan's name in PLANS; None: the one named like the budget."""

    @property
    def key(self) -> str:
        return f"{self.workload}/{self.backend}/{self.mode}/{self.precision}"

    @property
    def plan(self) -> TrialPlan:
        return PLANS[self.timing or self.budget]

    def task(self) -> TaskSpec:
        """The workload's task under this cell's budget and overrides."""
        return get_workload(self.workload).task_for(self.budget, epochs=self.epochs, batch_size=self.batch_size,
                                                    learning_rate=self.learning_rate)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        fields = dict(data)
        fields["latency_batch_sizes"] = tuple(fields.get("latency_batch_sizes", (1,)))
        return cls(**fields)
