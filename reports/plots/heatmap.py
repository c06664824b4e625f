"""The confusion-matrix heatmap of one classification cell."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np

from reports.palette import Palette
from reports.plots.base import figure, svg, themed


@themed
def confusion_chart(matrix: Sequence[Sequence[int]], title: str, backend: str | None = None,
                    palette: Palette | None = None) -> str | None:
    """Heatmap of a confusion matrix (rows true, columns predicted) with each count written in its cell."""
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2 or not arr.size:
        return None
    n = arr.shape[0]
    side = 2.9 if n > 4 else 2.2
    fig = figure((side, side * 0.92))
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
    colour = (palette or Palette([backend])).colour(backend) if backend else "#333333"
    ax.set_title(title, loc="left", fontweight="bold", fontsize=7.5, color=colour)
    return svg(fig)
