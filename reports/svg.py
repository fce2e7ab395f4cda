"""Line charts as inline SVG, drawn at render time: axes, units, UTC time labels, gaps.

No script and no fetch: the page stays readable offline, in a mail, with JavaScript off.
A line breaks where consecutive points are farther apart than ``Chart.gap_s`` (polls
failed or the host was not polled); failed polls are also marked in red along the
time axis. Every text that comes from data (a mount point, a sensor label) is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from onion.reports.filters import human_bytes

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 10, 28
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
           "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
               21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]   # (seconds since the epoch, UTC; value)


@dataclass(slots=True)
class Chart:
    title: str
    unit: str                               # "%", "B/s", "°C", "W", "s" or "" (load)
    series: list[Series]
    t0: float
    t1: float
    gap_s: float
    y_min: float | None = 0.0               # None: from the data
    y_max: float | None = None              # fixed top (100 for a percentage)
    failed: Sequence[float] = ()            # times of failed polls
    note: str = ""
    legend: list[LegendItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.legend = [LegendItem(s.label, PALETTE[i % len(PALETTE)],
                                  fmt(s.points[-1][1], self.unit) if s.points else "—",
                                  fmt(max(p[1] for p in s.points), self.unit)
                                  if s.points else "—")
                       for i, s in enumerate(self.series)]

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


@dataclass(frozen=True, slots=True)
class LegendItem:
    label: str
    colour: str
    last: str
    peak: str


def fmt(value: float, unit: str) -> str:
    if unit == "B/s":
        return human_bytes(value) + "/s"
    if unit == "B":
        return human_bytes(value)
    digits = 2 if unit in ("", "s") and abs(value) < 10 else (1 if abs(value) < 10 else 0)
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if unit else text


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _y_axis(lo: float, hi: float, unit: str) -> tuple[float, float, list[tuple[float, str]]]:
    """Range and labelled ticks; byte rates tick in whole KiB/MiB/GiB."""
    scale, name = 1.0, unit
    if unit in ("B/s", "B"):
        for k, prefix in enumerate(("B", "KiB", "MiB", "GiB", "TiB", "PiB")):
            scale = 1024.0 ** k
            name = prefix + ("/s" if unit == "B/s" else "")
            if max(abs(hi), abs(lo)) / scale < 1024:
                break
    step = _nice_step((hi - lo) / scale)
    top = math.ceil(hi / scale / step - 1e-9) * step
    bottom = math.floor(lo / scale / step + 1e-9) * step
    if top <= bottom:
        top = bottom + step
    ticks = []
    v = bottom
    while v <= top + step / 2:
        label = f"{v:.{max(0, -math.floor(math.log10(step)))}f}" if step < 1 else f"{v:.0f}"
        ticks.append((v * scale, f"{label} {name}".strip()))
        v += step
    return bottom * scale, top * scale, ticks


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    span = max(t1 - t0, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= 5), _TIME_STEPS[-1])
    if step >= 86400:
        pattern = "%m-%d"
    elif span >= 86400:
        pattern = "%m-%d %H:%M"
    elif step < 60:
        pattern = "%H:%M:%S"
    else:
        pattern = "%H:%M"
    first = math.ceil(t0 / step) * step
    out = []
    t = first
    while t <= t1:
        label = dt.datetime.fromtimestamp(t, dt.UTC).strftime(pattern)
        out.append((t, label))
        t += step
    return out


def _segments(points: Sequence[tuple[float, float]], gap_s: float
              ) -> list[list[tuple[float, float]]]:
    segs: list[list[tuple[float, float]]] = []
    prev_t: float | None = None
    for t, v in points:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            prev_t = None
            continue
        if prev_t is None or t - prev_t > gap_s:
            segs.append([])
        segs[-1].append((t, v))
        prev_t = t
    return segs


def draw(chart: Chart) -> Markup:
    """The chart's ``<svg>`` element."""
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t0, t1 = chart.t0, max(chart.t1, chart.t0 + 1)
    values = [v for s in chart.series for _, v in s.points if v is not None]
    lo = chart.y_min if chart.y_min is not None else min(values, default=0.0)
    hi = max([*values, chart.y_max or 0.0, lo + 1e-9]) if values or chart.y_max else lo + 1
    if chart.y_max is not None and not any(v > chart.y_max for v in values):
        hi = chart.y_max
    if hi - lo < 1e-6 * max(1.0, abs(hi)):   # a flat line: give it room to be seen
        pad = max(1.0, abs(hi) * 0.1)
        lo, hi = (lo - pad if chart.y_min is None else lo), hi + pad
    lo, hi, yticks = _y_axis(lo, hi, chart.unit)

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return TOP + ph - (v - lo) / (hi - lo) * ph

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">']
    for v, label in yticks:
        yy = y(v)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" '
                   f'y2="{yy:.1f}"/><text class="yl" x="{LEFT - 4}" y="{yy + 4:.1f}">'
                   f'{escape(label)}</text>')
    for t, label in _time_ticks(t0, t1):
        xx = x(t)
        out.append(f'<line class="tick" x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP + ph}" '
                   f'y2="{TOP + ph + 4}"/><text class="xl" x="{xx:.1f}" y="{HEIGHT - 10}">'
                   f'{escape(label)}</text>')
    out.append(f'<text class="utc" x="2" y="{HEIGHT - 10}">UTC</text>')
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>')
    bucket = min(max(pw * chart.gap_s / (t1 - t0) / 2, 1.5), 6.0)
    marked: set[int] = set()
    for t in chart.failed:
        px = round(x(t))
        if t0 <= t <= t1 and px not in marked:
            marked.add(px)
            left = min(max(px - bucket / 2, LEFT), LEFT + pw - bucket)
            out.append(f'<rect class="failed" x="{left:.1f}" y="{TOP + ph - 5}" '
                       f'width="{bucket:.1f}" height="5"/>')
    if marked:
        out.append(f'<title>red marks: failed polls ({len(chart.failed)})</title>')
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        path, dots = [], []
        for seg in _segments(s.points, chart.gap_s):
            if len(seg) == 1:
                dots.append(f'<circle cx="{x(seg[0][0]):.1f}" cy="{y(seg[0][1]):.1f}" r="2"/>')
                continue
            path.append("M" + " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in seg))
        title = f"<title>{escape(s.label)}</title>"
        if path:
            out.append(f'<path d="{" ".join(path)}" stroke="{colour}">{title}</path>')
        if dots:
            out.append(f'<g fill="{colour}">{title}{"".join(dots)}</g>')
    if not values:
        out.append(f'<text class="empty" x="{LEFT + pw / 2}" y="{TOP + ph / 2}">'
                   f'no data in this window</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every data text above went through escape()
