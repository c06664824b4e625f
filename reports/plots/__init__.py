"""Small matplotlib charts for the HTML report, each returned as an inline-ready SVG string.

bars: a chart per chart family of the metric table; lines: curves, GPU utilisation, nightly trends; heatmap: the
confusion matrix; scaling: a sweep's figures against parameters (log-log); base: what they share. Backend
colours come from reports.palette, one Palette per page.
"""

import matplotlib

matplotlib.use("Agg")  # before anything below touches matplotlib: no display, no GUI backend

from reports.plots.bars import latency_chart, memory_chart, quality_chart, throughput_chart  # noqa: E402
from reports.plots.heatmap import confusion_chart  # noqa: E402
from reports.plots.lines import curves_chart, gpu_chart, trend_chart  # noqa: E402
from reports.plots.scaling import scaling_charts  # noqa: E402

__all__ = ["confusion_chart", "curves_chart", "gpu_chart", "latency_chart", "memory_chart", "quality_chart",
           "scaling_charts", "throughput_chart", "trend_chart"]
