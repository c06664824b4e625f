"""What every chart shares: the report's matplotlib theme, figure, SVG output, title style, legend, axis numbers."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

REGRESSION = "#d62728"
"""Regressions are red in every chart (the backend palette leaves red out)."""
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


def themed(func: Callable[P, R]) -> Callable[P, R]:
    """Run a chart function under the report's rc settings (restored afterwards: no global state leaks)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def figure(size: tuple[float, float] = SIZE) -> Figure:
    """A blank figure of the report's size and resolution."""
    return Figure(figsize=size, dpi=100, layout="constrained")


def svg(fig: Figure) -> str:
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


def style(ax: Axes, title: str, ylabel: str | None = None) -> None:
    """The report's title (bold, left) and y label; no vertical grid lines."""
    ax.set_title(title, loc="left", fontweight="bold", color="#333333")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)


def legend(fig: Figure, ax: Axes) -> None:
    """The axes' legend below the figure, up to 4 entries a row."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)


def compact(value: float, _pos: Any = None) -> str:
    """An axis number with a k/M/G suffix: 1500000 → '1.5M'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def short(value: float) -> str:
    """compact() of the value rounded to 3 significant figures."""
    return compact(float(f"{value:.3g}"))
