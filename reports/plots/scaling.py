"""Scaling charts against parameter count, one line per backend and mode: tokens/s and peak memory log-log, MFU on a
log x axis (a percentage reads best from 0)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.ticker import FuncFormatter, NullFormatter

from reports.palette import Palette
from reports.plots.base import compact, figure, legend, style, svg, themed

ESTIMATE = "#555555"
"""The spec's memory estimate (one line: it does not depend on the backend)."""

Row = dict[str, Any]


def _lines(rows: Sequence[Row]) -> dict[tuple[str, str, str], list[Row]]:
    """Rows per (backend, mode, precision), in parameter order."""
    lines: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        lines.setdefault((str(row["backend"]), str(row["mode"]), str(row["precision"])), []).append(row)
    return {k: sorted(v, key=lambda r: r["params"] or 0) for k, v in lines.items()}


def _label(key: tuple[str, str, str]) -> str:
    backend, mode, precision = key
    return f"{backend}/{mode}" if precision in ("fp32", "None") else f"{backend}/{mode}/{precision}"


def _points(line: Sequence[Row], value: Callable[[Row], float | None]) -> tuple[list[float], list[float]]:
    pairs = [(float(r["params"]), v) for r in line if r["params"] and (v := value(r)) is not None and v > 0]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _loglog(ax: Any, title: str, ylabel: str, log_y: bool = True) -> None:
    """Parameters on a log x axis; the value on a log y axis (or linear from 0, for a percentage)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(compact))
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(compact))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("parameters")
    style(ax, title, ylabel)


def _chart(rows: Sequence[Row], palette: Palette, title: str, ylabel: str,
           series: Sequence[tuple[str, str, Callable[[Row], float | None]]], log_y: bool = True) -> str | None:
    """One log-log chart: for each line and each (suffix, linestyle, value) in series, the values over parameters."""
    fig = figure()
    ax = fig.subplots()
    drawn = False
    for key, line in _lines(rows).items():
        for suffix, linestyle, value in series:
            xs, ys = _points(line, value)
            if xs:
                ax.plot(xs, ys, color=palette.colour(key[0]), linestyle=linestyle, marker="o", markersize=3,
                        linewidth=1.2, label=f"{_label(key)}{suffix}")
                drawn = True
    if not drawn:
        return None
    _loglog(ax, title, ylabel, log_y)
    legend(fig, ax)
    return svg(fig)


def _memory_chart(rows: Sequence[Row], palette: Palette) -> str | None:
    """Measured peak per line, and the spec's estimate at every size (skipped sizes included)."""
    fig = figure()
    ax = fig.subplots()
    drawn = False
    for key, line in _lines(rows).items():
        xs, ys = _points(line, lambda r: r["measured_bytes"])
        if xs:
            ax.plot(xs, ys, color=palette.colour(key[0]), marker="o", markersize=3, linewidth=1.2,
                    label=_label(key))
            drawn = True
    estimate = {float(r["params"]): float(r["memory_estimate_bytes"]) for r in rows
                if r["params"] and r["memory_estimate_bytes"]}
    if estimate:
        xs = sorted(estimate)
        ax.plot(xs, [estimate[x] for x in xs], color=ESTIMATE, linestyle="--", marker="x", markersize=3,
                linewidth=1.0, label="estimate")
        drawn = True
    if not drawn:
        return None
    _loglog(ax, "Peak memory (measured; dashed: the spec's estimate)", "bytes")
    legend(fig, ax)
    return svg(fig)


@themed
def scaling_charts(rows: Sequence[Row], palette: Palette | None = None) -> list[str]:
    """Tokens/s (training solid, inference dashed), MFU and peak memory against parameters; charts with no data are
    left out."""
    palette = palette or Palette(r["backend"] for r in rows)
    charts = [
        _chart(rows, palette, "Throughput", "tokens/s", (
            (" train", "-", lambda r: r["train_tokens_per_s"]), (" infer", "--", lambda r: r["infer_tokens_per_s"]))),
        _chart(rows, palette, "MFU (training)", "% of peak", (("", "-", lambda r: r["mfu"] and 100 * r["mfu"]),),
               log_y=False),
        _memory_chart(rows, palette),
    ]
    return [c for c in charts if c]
