"""Small matplotlib charts for the HTML report, each returned as an inline-ready SVG string.

bars: a chart per chart family of the metric table; lines: curves, GPU utilisation, nightly trends; heatmap: the
confusion matrix. Backend colours come from reports.palette, one Palette per page.
"""

from reports.plots.bars import latency_chart, memory_chart, quality_chart, throughput_chart
from reports.plots.heatmap import confusion_chart
from reports.plots.lines import curves_chart, gpu_chart, trend_chart

__all__ = ["confusion_chart", "curves_chart", "gpu_chart", "latency_chart", "memory_chart", "quality_chart",
           "throughput_chart", "trend_chart"]
