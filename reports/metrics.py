"""The one metric table: every fact the reports know about a metric, declared once, in the order views show them.

Adding a metric is one entry in METRICS (plus its column in reports.flat if the record has no flat field for it
yet). Compare, the nightly regressions, the console run table, the comparison tables, the HTML report and its
charts all read this table, at call time (so a test can add an entry with monkeypatch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reports.formats import COUNT, FIXED2, FIXED3, MIB, PCT1, PERCENT2, SIG3, SIG4, Format

RUN_TABLE = "run"
"""The console table printed after a run (reports.table): memory columns last."""
COMPARE = "compare"
"""The backend comparison tables: rich, markdown (reports.compare_view)."""
RUNS = "runs"
"""The run-against-run table (reports.compare_view)."""
HTML = "html"
"""The per-workload table of the HTML report."""
MACHINES = "machines"
"""The fleet view: the same cells on several machines (reports.fleet: `compare --by machine`, the report's Machines
section)."""
VIEWS = (RUN_TABLE, COMPARE, RUNS, HTML, MACHINES)

CLASSIFICATION, REGRESSION = "classification", "regression"
LANGUAGE_MODEL = "language_model"
"""A classifier with one label per position: its rows have a perplexity (listed before accuracy, so task_of finds
that task first)."""
CHARTS = ("throughput", "latency", "memory", "quality")
"""The HTML report's bar-chart families (reports.plots.bars)."""


def flops_check(row: Mapping[str, Any]) -> str:
    """How the spec's FLOP count (MFU's numerator) compares with the framework's own counter, or why it was not."""
    ratio = row.get("flops_counted_train_ratio") or row.get("flops_counted_forward_ratio")
    if ratio is None:
        return f"FLOPs from the spec, not cross-checked: {row.get('flops_counter') or 'no framework count recorded'}"
    what = "train step" if row.get("flops_counted_train_ratio") else "forward pass"
    counter = str(row["flops_counter"]).split(" (")[0]  # the counter's name; the record keeps its full description
    return f"FLOPs from the spec; {counter} counts {ratio:.2f}× of them per {what}"


@dataclass(frozen=True)
class Metric:
    """One metric: where it is, how it is written, which way is better, who watches, compares and shows it."""

    field: str
    """Its flat column (reports.flat.FIELDS), also its name in comparisons and nightly verdicts."""
    header: str
    """Short header of terminal tables: 'train/s'."""
    label: str
    """Long header of the HTML table and chart axes: 'train samples/s'."""
    unit: str
    """What the stored value counts: 'samples/s', 'tokens/s', 'ms', 's', 'bytes', 'fraction', 'score', 'target²',
    'perplexity'."""
    higher_is_better: bool
    fmt: Format
    """How terminal tables write it."""
    page: Format
    """How the HTML report writes it."""
    raw: tuple[str, ...] | None = None
    """Path of its raw trials in a record (bootstrap CIs and significance tests), or None."""
    floor: float | None = None
    """The nightly's regression floor (relative change, or absolute for scores); None: not watched."""
    absolute: bool = False
    """The floor is an absolute difference (scores such as accuracy), not a relative one."""
    compare: bool = False
    """Compared across backends and runs (reports.compare)."""
    views: tuple[str, ...] = ()
    """Where it is shown: RUN_TABLE, COMPARE, RUNS, HTML."""
    ci_in: tuple[str, ...] = ()
    """Views that show its confidence interval (the flat '<field>_ci_low' / '_ci_high' columns)."""
    fmt_in: tuple[tuple[str, Format], ...] = ()
    """Views writing it other than `fmt` (the run table's latency has 2 decimals, the comparison's 3)."""
    task: str | None = None
    """The HTML table shows it only for workloads of this task (CLASSIFICATION or REGRESSION); None: always."""
    reason: str | None = None
    """Flat field saying why the value is missing: the HTML table writes 'n/a' with it as a footnote."""
    note: Callable[[Mapping[str, Any]], str | None] | None = None
    """A footnote on the value in the HTML table, from the flat row (how MFU's FLOPs were counted)."""
    chart: tuple[str, str] | None = None
    """(chart family in CHARTS, the bar's or panel's label) in the HTML report, or None."""

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: Iterable[Any]) -> None:
            raise ValueError(f"metric {self.field!r}: {name}={value!r}; allowed: {', '.join(map(str, allowed))}")

        for view in (*self.views, *self.ci_in, *(v for v, _ in self.fmt_in)):
            if view not in VIEWS:
                bad("views", view, VIEWS)
        for view in (*self.ci_in, *(v for v, _ in self.fmt_in)):
            if view not in self.views:
                bad("ci_in/fmt_in view", view, self.views)
        if not self.compare and ({COMPARE, RUNS, MACHINES} & set(self.views)):
            bad("compare", self.compare, ["True (the COMPARE, RUNS and MACHINES views show compared metrics only)"])
        if self.floor is not None and self.floor < 0:
            bad("floor", self.floor, ["None", "a number ≥ 0"])
        if self.absolute and self.floor is None:
            bad("absolute", self.absolute, ["False (an unwatched metric has no floor)"])
        if self.task not in (None, LANGUAGE_MODEL, CLASSIFICATION, REGRESSION):
            bad("task", self.task, [None, LANGUAGE_MODEL, CLASSIFICATION, REGRESSION])
        if self.chart is not None and self.chart[0] not in CHARTS:
            bad("chart", self.chart, CHARTS)

    @property
    def watched(self) -> bool:
        """The nightly judges it."""
        return self.floor is not None

    def text(self, value: Any, view: str) -> str:
        """The value as a terminal table of `view` writes it."""
        return dict(self.fmt_in).get(view, self.fmt)(value)


_TRAIN, _INFER = ("timing", "train", "raw"), ("timing", "infer", "raw")
_LATENCY = ("timing", "latency_ms", "1", "raw_ms")
_ALL = (RUN_TABLE, COMPARE, RUNS, HTML)
_FLEET = (*_ALL, MACHINES)

METRICS: tuple[Metric, ...] = (
    Metric("train_samples_per_s", "train/s", "train samples/s", "samples/s", True, COUNT, SIG3, raw=_TRAIN,
           floor=0.10, compare=True, views=_FLEET, ci_in=(RUN_TABLE, HTML, MACHINES),
           chart=("throughput", "Training samples/s")),
    Metric("infer_samples_per_s", "infer/s", "infer samples/s", "samples/s", True, COUNT, SIG3, raw=_INFER,
           floor=0.10, compare=True, views=_ALL, ci_in=(HTML,), chart=("throughput", "Inference samples/s")),
    Metric("latency_ms_p50", "p50 ms", "p50 ms", "ms", False, FIXED3, SIG3, raw=_LATENCY, floor=0.15, compare=True,
           views=_FLEET, fmt_in=((RUN_TABLE, FIXED2),), chart=("latency", "p50")),
    Metric("latency_ms_p90", "p90 ms", "p90 ms", "ms", False, FIXED3, SIG3, chart=("latency", "p90")),
    Metric("latency_ms_p99", "p99 ms", "p99 ms", "ms", False, FIXED3, SIG3, compare=True,
           views=(COMPARE, RUNS, HTML), chart=("latency", "p99")),
    Metric("compile_s", "compile s", "train compile s", "s", False, FIXED2, SIG3, views=(RUN_TABLE, HTML)),
    # the inference path compiles apart (jit, XLA, torch.compile, tf.function): first predict call − steady call
    Metric("infer_compile_s", "infer comp s", "infer compile s", "s", False, FIXED2, SIG3, views=(RUN_TABLE, HTML)),
    # RSS moves ±5 % run to run (allocator, XLA compile buffers): a 10 % floor
    Metric("host_peak_bytes", "host MiB", "host MiB", "bytes", False, MIB, MIB, floor=0.10, compare=True,
           views=_FLEET, chart=("memory", "host peak")),
    # its two parts: the framework imported with nothing run, and what the cell added on top of that
    Metric("host_baseline_bytes", "host base MiB", "host baseline MiB", "bytes", False, MIB, MIB, views=(HTML,)),
    Metric("host_model_bytes", "host model MiB", "host model MiB", "bytes", False, MIB, MIB, views=(HTML,)),
    # the spec's memory estimate of a training step (suites/memory.py), and the measured peak over it
    # (reports.flat.measured_for_estimate: the device peak on a GPU, else host_model_bytes); no view shows them yet
    Metric("memory_estimate_bytes", "est MiB", "estimated MiB", "bytes", False, MIB, MIB),
    Metric("memory_estimate_ratio", "meas/est", "measured / estimated memory", "fraction", False, FIXED2, SIG3),
    Metric("device_peak_bytes", "dev MiB", "device MiB", "bytes", False, MIB, MIB, compare=True,
           views=(COMPARE, HTML, MACHINES), reason="device_peak_reason", chart=("memory", "device peak")),
    # a language model's (tokens per sample = its context): next-token perplexity, and throughput in tokens/s
    Metric("perplexity", "ppl", "perplexity", "perplexity", False, FIXED2, SIG4, floor=0.03, compare=True,
           views=(COMPARE, RUNS, HTML, MACHINES), task=LANGUAGE_MODEL, chart=("quality", "perplexity")),
    Metric("train_tokens_per_s", "train tok/s", "train tokens/s", "tokens/s", True, COUNT, SIG3,
           views=(HTML,), task=LANGUAGE_MODEL),
    Metric("infer_tokens_per_s", "infer tok/s", "infer tokens/s", "tokens/s", True, COUNT, SIG3,
           views=(HTML,), task=LANGUAGE_MODEL),
    Metric("accuracy", "acc", "accuracy", "fraction", True, FIXED3, PCT1, floor=0.02, absolute=True, compare=True,
           views=_FLEET, task=CLASSIFICATION, chart=("quality", "accuracy")),
    Metric("f1_macro", "F1", "F1 macro", "fraction", True, FIXED3, SIG3, compare=True, views=_ALL,
           task=CLASSIFICATION, chart=("quality", "macro F1")),
    Metric("r2", "R²", "R²", "score", True, FIXED3, SIG4, floor=0.02, absolute=True, compare=True,
           views=(RUN_TABLE, COMPARE, HTML, MACHINES), task=REGRESSION, chart=("quality", "R²")),
    Metric("mse", "MSE", "MSE", "target²", False, FIXED3, SIG3, views=(HTML,), task=REGRESSION),
    Metric("mfu", "MFU", "MFU", "fraction", True, PERCENT2, PCT1, compare=True, views=(COMPARE, HTML),
           reason="mfu_reason", note=flops_check),
)


def get(field: str) -> Metric | None:
    """The metric of a flat field, or None."""
    return next((m for m in METRICS if m.field == field), None)


def shown(view: str) -> list[Metric]:
    """The metrics `view` shows, in table order."""
    return [m for m in METRICS if view in m.views]


def compared() -> list[Metric]:
    """The metrics compared across backends and runs."""
    return [m for m in METRICS if m.compare]


def watched() -> list[Metric]:
    """The metrics the nightly judges."""
    return [m for m in METRICS if m.watched]


def charted(family: str) -> list[Metric]:
    """The metrics drawn in one chart family, in table order."""
    return [m for m in METRICS if m.chart and m.chart[0] == family]


def task_of(rows: Iterable[Mapping[str, Any]], among: Iterable[Metric]) -> str | None:
    """The first task (in table order) whose metrics among `among` have a value in some row; None if none do."""
    rows, among = list(rows), list(among)
    for task in dict.fromkeys(m.task for m in among if m.task):
        if any(row.get(m.field) is not None for row in rows for m in among if m.task == task):
            return task
    return None
