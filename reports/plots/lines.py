"""Line charts: training curves per epoch, GPU utilisation over a cell's run, one metric over nightly runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reports.flat import dig
from reports.html_format import _cell, cell_label
from reports.palette import PALETTE, Palette
from reports.plots.base import REGRESSION, SIZE, compact, figure, legend, style, svg, themed

LINE = PALETTE[0]
"""The trend line's colour (one metric of one cell over runs: no backend to tell apart)."""


@themed
def curves_chart(records: Sequence[dict[str, Any]], palette: Palette | None = None) -> str | None:
    """Training loss and the validation metric per epoch, one line per cell (None unless some cell ran 2+ epochs)."""
    records = [r for r in records if len(r.get("curve") or []) >= 2]
    if not records:
        return None  # a single epoch is a point, not a curve
    palette = palette or Palette(_cell(r).get("backend") for r in records)
    metric = "val_accuracy" if any("val_accuracy" in p for r in records for p in r["curve"]) else "val_loss"
    fig = figure()
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "train_loss", "Training loss"),
                           (axes[1], metric, "Validation accuracy" if metric == "val_accuracy" else "Validation loss")):
        for r in records:
            points = [(p.get("epoch"), p.get(key)) for p in r["curve"] if p.get(key) is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=palette.colour(_cell(r).get("backend")), label=cell_label(r),
                    linewidth=1.2, marker="o" if len(points) <= 20 else None, markersize=3)
        style(ax, title)
        ax.set_xlabel("epoch")
        if key != "val_accuracy" and all(p.get(key, 1) > 0 for r in records for p in r["curve"] if p.get(key)):
            values = [p[key] for r in records for p in r["curve"] if p.get(key)]
            if values and max(values) / max(min(values), 1e-12) > 50:
                ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
    legend(fig, axes[0])
    return svg(fig)


@themed
def gpu_chart(records: Sequence[dict[str, Any]], palette: Palette | None = None) -> str | None:
    """GPU utilisation over each cell's run (from its sampled timeline), or None when nothing was sampled."""
    records = [r for r in records if dig(r, "gpu", "timeline")]
    if not records:
        return None
    palette = palette or Palette(_cell(r).get("backend") for r in records)
    fig = figure()
    ax = fig.subplots()
    for r in records:
        timeline = [p for p in r["gpu"]["timeline"] if p[2] is not None]
        if timeline:
            ax.plot([p[0] for p in timeline], [p[2] for p in timeline],
                    color=palette.colour(_cell(r).get("backend")), label=cell_label(r), linewidth=1.0,
                    drawstyle="steps-post")
    ax.set_ylim(0, 105)
    ax.set_xlabel("seconds since cell start")
    style(ax, "GPU utilisation", "%")
    legend(fig, ax)
    return svg(fig)


@themed
def trend_chart(points: Sequence[tuple[str, float | None, bool]], title: str, ylabel: str = "") -> str | None:
    """One metric over runs (oldest first): a line through every run, regressions marked in red."""
    points = [p for p in points if p[1] is not None]
    if not points:
        return None
    fig = figure((SIZE[0], 2.3))
    ax = fig.subplots()
    xs = np.arange(len(points))
    ys = [float(p[1]) for p in points]  # type: ignore[arg-type]
    ax.plot(xs, ys, color=LINE, linewidth=1.2, marker="o", markersize=3, zorder=2)
    bad = [(x, y) for x, y, p in zip(xs, ys, points, strict=True) if p[2]]
    if bad:
        ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=40, color=REGRESSION, zorder=3, label="regression")
        for x, y in bad:
            ax.annotate("regression", (x, y), xytext=(0, -11), textcoords="offset points", ha="center",
                        fontsize=6, color=REGRESSION)
    step = max(len(points) // 6, 1)
    ax.set_xticks(xs[::step], [points[i][0] for i in range(0, len(points), step)], rotation=0)
    ax.yaxis.set_major_formatter(compact)
    low, high = min(ys), max(ys)
    pad = (high - low) * 0.25 or abs(high) * 0.1 or 1.0
    ax.set_ylim(low - pad, high + pad)
    style(ax, title, ylabel)
    return svg(fig)
