"""Bar charts, one per chart family of the metric table (throughput, latency, memory, quality): a bar per cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from reports.flat import flatten
from reports.html_format import _cell, cell_label
from reports.metrics import CLASSIFICATION, Metric, charted, task_of
from reports.palette import Palette
from reports.plots.base import compact, figure, legend, short, style, svg, themed

Interval = tuple[float, float] | None
QUALITY_TITLE = {CLASSIFICATION: "Test accuracy and F1"}
"""The quality chart's title per task (otherwise 'Test ' and its metrics' labels)."""


def _bars(ax: Axes, groups: Sequence[str], records: Sequence[dict[str, Any]],
          values: Sequence[Sequence[float | None]], palette: Palette,
          errors: Sequence[Sequence[Interval]] | None = None, fmt: Callable[[float], str] = "{:,.0f}".format) -> None:
    """Grouped bars: one group per name in `groups`, one bar per record (values[record][group])."""
    n = max(len(records), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    tallest = max((v for row in values for v in row if v is not None), default=0.0)
    for i, record in enumerate(records):
        heights = [np.nan if v is None else v for v in values[i]]
        pos = x - 0.4 + width * (i + 0.5)
        yerr = None
        if errors is not None:
            lo = [0.0 if e is None or h != h else max(h - e[0], 0.0) for e, h in zip(errors[i], heights, strict=True)]
            hi = [0.0 if e is None or h != h else max(e[1] - h, 0.0) for e, h in zip(errors[i], heights, strict=True)]
            yerr = np.array([lo, hi])
        ax.bar(pos, heights, width * 0.92, color=palette.colour(_cell(record).get("backend")),
               label=cell_label(record), yerr=yerr, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"})
        if n * len(groups) <= 12:
            tops = heights if yerr is None else [h + up for h, up in zip(heights, yerr[1], strict=True)]
            for p, h, top in zip(pos, heights, tops, strict=True):
                if h == h:
                    ax.annotate(fmt(h), (p, top), xytext=(0, 1.5), textcoords="offset points",
                                ha="center", va="bottom", fontsize=5.5, color="#444444")
    ax.set_xticks(x, groups)
    if tallest:
        ax.set_ylim(0, tallest * 1.18)


def _is_set(value: Any) -> bool:
    return value is not None


def _family(records: Sequence[dict[str, Any]], family: str, present: Callable[[Any], bool] = _is_set
            ) -> tuple[list[Metric], list[dict[str, Any]], list[dict[str, Any]]]:
    """The family's metrics, and the records (with their flat rows) that have a value for one of them."""
    metrics = charted(family)
    pairs = [(r, flatten(r)) for r in records]
    kept = [(r, row) for r, row in pairs if any(present(row.get(m.field)) for m in metrics)]
    return metrics, [r for r, _ in kept], [row for _, row in kept]


def _value(metric: Metric, row: dict[str, Any]) -> float | None:
    """The metric's value in the unit its chart axis shows (bytes as MiB)."""
    value = row.get(metric.field)
    return None if value is None else metric.fmt.scale(value)


def _axis_unit(metric: Metric) -> str:
    return metric.fmt.unit or metric.unit


def _palette(records: Sequence[dict[str, Any]], palette: Palette | None) -> Palette:
    return palette or Palette(_cell(r).get("backend") for r in records)


@themed
def throughput_chart(records: Sequence[dict[str, Any]], title: str = "Throughput",
                     palette: Palette | None = None) -> str | None:
    """Each throughput metric (median of trials) per cell with its confidence interval, a panel per metric."""
    metrics, records, rows = _family(records, "throughput", present=bool)
    if not records:
        return None
    palette = _palette(records, palette)
    fig = figure()
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        vals = [[_value(metric, row)] for row in rows]
        errs: list[list[Interval]] = []
        for row in rows:
            lo, hi = row.get(f"{metric.field}_ci_low"), row.get(f"{metric.field}_ci_high")
            errs.append([(lo, hi) if lo is not None and hi is not None else None])
        name = metric.chart[1] if metric.chart else metric.label
        _bars(ax, [name], records, vals, palette, errs, fmt=short)
        ax.set_xticks([])
        ax.yaxis.set_major_formatter(compact)
        style(ax, name)
    fig.suptitle(title, x=0.02, ha="left", fontsize=8.5, color="#555555")
    legend(fig, axes[0])
    return svg(fig)


def _grouped(family: str, records: Sequence[dict[str, Any]], title: str, palette: Palette | None,
             fmt: Callable[[float], str]) -> str | None:
    """One group of bars per metric of the family that some cell has, one bar per cell; the axis in their unit."""
    metrics, records, rows = _family(records, family)
    if not records:
        return None
    palette = _palette(records, palette)
    shown = [m for m in metrics if any(row.get(m.field) is not None for row in rows)]
    missing = [m for m in metrics if m not in shown]
    if missing:  # 'Peak memory (host; device not measured)'
        title += (f" ({', '.join(m.chart[1].split()[0] for m in shown if m.chart)}; "
                  f"{', '.join(m.chart[1].split()[0] for m in missing if m.chart)} not measured)")
    fig = figure()
    ax = fig.subplots()
    _bars(ax, [m.chart[1] for m in shown if m.chart], records, [[_value(m, row) for m in shown] for row in rows],
          palette, fmt=fmt)
    style(ax, title, _axis_unit(shown[0]))
    legend(fig, ax)
    return svg(fig)


@themed
def latency_chart(records: Sequence[dict[str, Any]], palette: Palette | None = None) -> str | None:
    """Batch-1 inference latency percentiles per cell, in milliseconds."""
    return _grouped("latency", records, "Latency at batch 1", palette, "{:.3g}".format)


@themed
def memory_chart(records: Sequence[dict[str, Any]], palette: Palette | None = None) -> str | None:
    """Peak host memory per cell, and peak device memory where the framework could measure it (MiB)."""
    return _grouped("memory", records, "Peak memory", palette, "{:,.0f}".format)


@themed
def quality_chart(records: Sequence[dict[str, Any]], palette: Palette | None = None) -> str | None:
    """The quality metrics of the workload's task per cell: accuracy and macro F1, or R²."""
    metrics, records, rows = _family(records, "quality")
    task = task_of(rows, metrics)
    if task is None:
        return None
    palette = _palette(records, palette)
    chosen = [m for m in metrics if m.task == task]
    groups = [m.chart[1] if m.chart else m.label for m in chosen]
    fig = figure()
    ax = fig.subplots()
    vals = [[_value(m, row) for m in chosen] for row in rows]
    _bars(ax, groups, records, vals, palette, fmt="{:.3f}".format)
    top = max((v for row in vals for v in row if v is not None), default=1.0)
    ax.set_ylim(min(0.0, min((v for row in vals for v in row if v is not None), default=0.0)), max(1.0, top) * 1.15)
    style(ax, QUALITY_TITLE.get(task) or "Test " + " and ".join(groups))
    legend(fig, ax)
    return svg(fig)
