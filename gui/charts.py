"""The host view's charts: the report's chart data (``reports.hostpage``), drawn by
pyqtgraph (Qt Essentials has no QtCharts)."""

from __future__ import annotations

import html
import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from onion.reports.hostpage import ChartGroup
from onion.reports.svg import PALETTE, Chart

COLUMNS = 2
HEIGHT = 190

pg.setConfigOptions(antialias=True, background="w", foreground="k")


def _with_gaps(points: Any, gap_s: float) -> tuple[list[float], list[float]]:
    """A series with a NaN where polls are missing: drawn as a gap, not a slope (one
    item per series, ``connect="finite"``)."""
    xs: list[float] = []
    ys: list[float] = []
    last = -math.inf
    for t, v in points:
        if xs and t - last > gap_s:
            xs.append((last + t) / 2)
            ys.append(math.nan)
        xs.append(t)
        ys.append(v)
        last = t
    return xs, ys


def plot(chart: Chart) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
    w.setMinimumHeight(HEIGHT)
    w.setTitle(chart.title + (f" ({chart.unit})" if chart.unit else ""), size="9pt")
    w.showGrid(x=True, y=True, alpha=0.2)
    w.addLegend(offset=(4, 4), labelTextSize="8pt")
    for i, s in enumerate(chart.series):
        xs, ys = _with_gaps(s.points, chart.gap_s)
        w.plot(xs, ys, pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=1.5), name=s.label,
               connect="finite")
    for t in chart.failed:  # failed polls: a red tick at the bottom
        w.addItem(pg.InfiniteLine(t, angle=90, pen=pg.mkPen("#d62728", width=1,
                                                            style=pg.QtCore.Qt.PenStyle.DotLine)))
    w.setXRange(chart.t0, chart.t1, padding=0)
    if chart.y_max is not None:
        w.setYRange(chart.y_min or 0.0, chart.y_max, padding=0.02)
    w.getViewBox().setMouseEnabled(x=True, y=False)
    return w


class ChartPanel(QWidget):
    """Each group's title, note and charts, two to a row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = QVBoxLayout(self)
        self.plots: list[pg.PlotWidget] = []

    def show_groups(self, groups: list[ChartGroup]) -> None:
        while self.box.count():
            item = self.box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.plots = []
        for g in groups:
            # Titles and notes hold names a host chose (mounts, interfaces): never markup.
            title = QLabel(f"<b>{html.escape(g.title)}</b>")
            self.box.addWidget(title)
            if g.note:
                note = QLabel(g.note)
                note.setTextFormat(Qt.TextFormat.PlainText)
                note.setWordWrap(True)
                self.box.addWidget(note)
            holder = QWidget()
            grid = QGridLayout(holder)
            grid.setContentsMargins(0, 0, 0, 0)
            for i, chart in enumerate(g.charts):
                p = plot(chart)
                self.plots.append(p)
                grid.addWidget(p, i // COLUMNS, i % COLUMNS)
            self.box.addWidget(holder)
        self.box.addStretch(1)


__all__ = ["ChartPanel", "plot"]
