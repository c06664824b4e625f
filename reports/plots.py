"""Small matplotlib charts for the HTML report, each returned as an inline-ready SVG string."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import matplotlib

from reports.flat import dig

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

BACKEND_COLOURS = {"torch": "#4e79a7", "tensorflow": "#f28e2b", "jax": "#b07aa1"}
"""One colour per framework, the same in every chart and in the page's legend."""
EXTRA_COLOURS = ("#76b7b2", "#59a14f", "#9c755f", "#edc948", "#bab0ac")
REGRESSION = "#d62728"
SIZE = (4.5, 2.8)
"""Inches: two charts side by side fit the report's container."""

_RC = {
    "svg.fonttype": "none", "svg.hashsalt": "bench-report", "font.size": 7.5, "axes.titlesize": 8.5,
    "axes.labelsize": 7.5, "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 6.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888888",
    "axes.grid": True, "axes.formatter.useoffset": False, "grid.color": "#e6e6e6", "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
}
P = ParamSpec("P")
R = TypeVar("R")


def _themed(func: Callable[P, R]) -> Callable[P, R]:
    """Run a chart function under the report's rc settings (restored afterwards: no global state leaks)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def colour(backend: str | None) -> str:
    """The backend's colour (a stable fallback colour for backends outside the three frameworks)."""
    if backend in BACKEND_COLOURS:
        return BACKEND_COLOURS[backend]
    return EXTRA_COLOURS[sum(map(ord, backend or "")) % len(EXTRA_COLOURS)]


def cell_label(record: dict[str, Any]) -> str:
    """backend/mode (plus precision when it is not fp32): the name of a cell within its workload."""
    cell = record.get("cell") or {}
    name = f"{cell.get('backend')}/{cell.get('mode')}"
    return name if cell.get("precision") in (None, "fp32") else f"{name}/{cell.get('precision')}"


def _backend(record: dict[str, Any]) -> str:
    return str((record.get("cell") or {}).get("backend"))


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    return Figure(figsize=size, dpi=100, layout="constrained")


def _svg(fig: Figure) -> str:
    """The figure as an <svg> element: no XML prolog, ids unique on the page, scales with its container."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, facecolor="white")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # namespace URLs only: not needed inline
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text).replace("xlink:href=", "href=")
    prefix = "c" + hashlib.sha1(text.encode()).hexdigest()[:8] + "-"  # deterministic; unique per distinct chart
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for name in sorted(ids, key=len, reverse=True):
        text = re.sub(rf'(\bid="|url\(#|href="#){re.escape(name)}(?=["\)])', rf"\g<1>{prefix}{name}", text)
    text = re.sub(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"',
                  r'<svg\1 class="chart" width="\2pt" height="\3pt" role="img"', text, count=1)
    return text.strip()


def _style(ax: Axes, title: str, ylabel: str | None = None) -> None:
    ax.set_title(title, loc="left", fontweight="bold", color="#333333")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)


Interval = tuple[float, float] | None


def _bars(ax: Axes, groups: Sequence[str], records: Sequence[dict[str, Any]],
          values: Sequence[Sequence[float | None]], errors: Sequence[Sequence[Interval]] | None = None,
          fmt: Callable[[float], str] = "{:,.0f}".format) -> None:
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
        ax.bar(pos, heights, width * 0.92, color=colour(_backend(record)), label=cell_label(record),
               yerr=yerr, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"})
        if n * len(groups) <= 12:
            tops = heights if yerr is None else [h + up for h, up in zip(heights, yerr[1], strict=True)]
            for p, h, top in zip(pos, heights, tops, strict=True):
                if h == h:
                    ax.annotate(fmt(h), (p, top), xytext=(0, 1.5), textcoords="offset points",
                                ha="center", va="bottom", fontsize=5.5, color="#444444")
    ax.set_xticks(x, groups)
    if tallest:
        ax.set_ylim(0, tallest * 1.18)


def _legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)


def _compact(value: float, _pos: Any = None) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _short(value: float) -> str:
    return _compact(float(f"{value:.3g}"))


@_themed
def throughput_chart(records: Sequence[dict[str, Any]], title: str = "Throughput") -> str | None:
    """Train and inference samples/s per cell (median of trials) with their confidence intervals."""
    records = [r for r in records if dig(r, "timing", "train", "median") or dig(r, "timing", "infer", "median")]
    if not records:
        return None
    fig = _figure()
    axes = fig.subplots(1, 2)
    for ax, phase in zip(axes, ("train", "infer"), strict=True):
        vals = [[dig(r, "timing", phase, "median")] for r in records]
        errs = []
        for r in records:
            lo, hi = dig(r, "timing", phase, "ci_low"), dig(r, "timing", phase, "ci_high")
            errs.append([(lo, hi) if lo is not None and hi is not None else None])
        _bars(ax, [phase], records, vals, errs, fmt=_short)
        ax.set_xticks([])
        ax.yaxis.set_major_formatter(_compact)
        _style(ax, f"{'Training' if phase == 'train' else 'Inference'} samples/s")
    fig.suptitle(title, x=0.02, ha="left", fontsize=8.5, color="#555555")
    _legend(fig, axes[0])
    return _svg(fig)


@_themed
def latency_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """Batch-1 inference latency percentiles (p50, p90, p99) per cell, in milliseconds."""
    records = [r for r in records if dig(r, "timing", "latency_ms", "1", "p50") is not None]
    if not records:
        return None
    fig = _figure()
    ax = fig.subplots()
    vals = [[dig(r, "timing", "latency_ms", "1", p) for p in ("p50", "p90", "p99")] for r in records]
    _bars(ax, ["p50", "p90", "p99"], records, vals, fmt="{:.3g}".format)
    _style(ax, "Latency at batch 1", "ms")
    _legend(fig, ax)
    return _svg(fig)


@_themed
def memory_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """Peak host memory per cell, and peak device memory where the framework could measure it (MiB)."""
    records = [r for r in records if dig(r, "memory", "host_peak_bytes") is not None]
    if not records:
        return None
    has_device = any(dig(r, "memory", "device_peak_bytes") is not None for r in records)
    groups = ["host peak", "device peak"] if has_device else ["host peak"]
    vals = []
    for r in records:
        row = [dig(r, "memory", "host_peak_bytes"), dig(r, "memory", "device_peak_bytes")][: len(groups)]
        vals.append([None if v is None else v / 2**20 for v in row])
    fig = _figure()
    ax = fig.subplots()
    _bars(ax, groups, records, vals, fmt="{:,.0f}".format)
    _style(ax, "Peak memory" + ("" if has_device else " (host; device not measured)"), "MiB")
    _legend(fig, ax)
    return _svg(fig)


@_themed
def quality_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """Accuracy and macro F1 per cell (classification), or R² (regression)."""
    records = [r for r in records if r.get("quality")]
    if not records:
        return None
    if any(dig(r, "quality", "accuracy") is not None for r in records):
        groups, metrics, title = ["accuracy", "macro F1"], ("accuracy", "f1_macro"), "Test accuracy and F1"
    elif any(dig(r, "quality", "r2") is not None for r in records):
        groups, metrics, title = ["R²"], ("r2",), "Test R²"
    else:
        return None
    fig = _figure()
    ax = fig.subplots()
    vals = [[dig(r, "quality", m) for m in metrics] for r in records]
    _bars(ax, groups, records, vals, fmt="{:.3f}".format)
    top = max((v for row in vals for v in row if v is not None), default=1.0)
    ax.set_ylim(min(0.0, min((v for row in vals for v in row if v is not None), default=0.0)), max(1.0, top) * 1.15)
    _style(ax, title)
    _legend(fig, ax)
    return _svg(fig)


@_themed
def confusion_chart(matrix: Sequence[Sequence[int]], title: str, backend: str | None = None) -> str | None:
    """Heatmap of a confusion matrix (rows true, columns predicted) with each count written in its cell."""
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2 or not arr.size:
        return None
    n = arr.shape[0]
    side = 2.9 if n > 4 else 2.2
    fig = _figure((side, side * 0.92))
    ax = fig.subplots()
    ax.grid(False)
    cmap = matplotlib.colormaps["Blues"]
    ax.imshow(arr, cmap=cmap, vmin=0, vmax=max(arr.max(), 1), aspect="equal")
    threshold = arr.max() * 0.55
    size = 5.5 if n <= 10 else 4.5 if n <= 16 else 0
    if size:
        for (i, j), v in np.ndenumerate(arr):
            if v:
                ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=size,
                        color="white" if v > threshold else "#333333")
    ticks = range(n) if n <= 20 else range(0, n, max(n // 10, 1))
    ax.set_xticks(list(ticks))
    ax.set_yticks(list(ticks))
    ax.tick_params(length=0, labelsize=5.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("predicted", fontsize=6.5)
    ax.set_ylabel("true", fontsize=6.5)
    ax.set_title(title, loc="left", fontweight="bold", fontsize=7.5, color=colour(backend) if backend else "#333333")
    return _svg(fig)


@_themed
def curves_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """Training loss and the evaluation metric per epoch, one line per cell (None unless some cell ran 2+ epochs)."""
    records = [r for r in records if len(r.get("curve") or []) >= 2]
    if not records:
        return None  # a single epoch is a point, not a curve
    metric = "accuracy" if any("accuracy" in p for r in records for p in r["curve"]) else "loss"
    fig = _figure()
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "train_loss", "Training loss"),
                           (axes[1], metric, "Eval accuracy" if metric == "accuracy" else "Eval loss")):
        for r in records:
            points = [(p.get("epoch"), p.get(key)) for p in r["curve"] if p.get(key) is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=colour(_backend(r)), label=cell_label(r), linewidth=1.2,
                    marker="o" if len(points) <= 20 else None, markersize=3)
        _style(ax, title)
        ax.set_xlabel("epoch")
        if key != "accuracy" and all(p.get(key, 1) > 0 for r in records for p in r["curve"] if p.get(key)):
            values = [p[key] for r in records for p in r["curve"] if p.get(key)]
            if values and max(values) / max(min(values), 1e-12) > 50:
                ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
    _legend(fig, axes[0])
    return _svg(fig)


@_themed
def gpu_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """GPU utilisation over each cell's run (from its sampled timeline), or None when nothing was sampled."""
    records = [r for r in records if dig(r, "gpu", "timeline")]
    if not records:
        return None
    fig = _figure()
    ax = fig.subplots()
    for r in records:
        timeline = [p for p in r["gpu"]["timeline"] if p[2] is not None]
        if timeline:
            ax.plot([p[0] for p in timeline], [p[2] for p in timeline], color=colour(_backend(r)),
                    label=cell_label(r), linewidth=1.0, drawstyle="steps-post")
    ax.set_ylim(0, 105)
    ax.set_xlabel("seconds since cell start")
    _style(ax, "GPU utilisation", "%")
    _legend(fig, ax)
    return _svg(fig)


@_themed
def trend_chart(points: Sequence[tuple[str, float | None, bool]], title: str, ylabel: str = "") -> str | None:
    """One metric over runs (oldest first): a line through every run, regressions marked in red."""
    points = [p for p in points if p[1] is not None]
    if not points:
        return None
    fig = _figure((SIZE[0], 2.3))
    ax = fig.subplots()
    xs = np.arange(len(points))
    ys = [float(p[1]) for p in points]  # type: ignore[arg-type]
    ax.plot(xs, ys, color="#4e79a7", linewidth=1.2, marker="o", markersize=3, zorder=2)
    bad = [(x, y) for x, y, p in zip(xs, ys, points, strict=True) if p[2]]
    if bad:
        ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=40, color=REGRESSION, zorder=3, label="regression")
        for x, y in bad:
            ax.annotate("regression", (x, y), xytext=(0, -11), textcoords="offset points", ha="center",
                        fontsize=6, color=REGRESSION)
    step = max(len(points) // 6, 1)
    ax.set_xticks(xs[::step], [points[i][0] for i in range(0, len(points), step)], rotation=0)
    ax.yaxis.set_major_formatter(_compact)
    low, high = min(ys), max(ys)
    pad = (high - low) * 0.25 or abs(high) * 0.1 or 1.0
    ax.set_ylim(low - pad, high + pad)
    _style(ax, title, ylabel)
    return _svg(fig)
