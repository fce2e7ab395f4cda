"""Line charts as inline SVG, drawn at render time: axes, units, UTC time labels, gaps.

No script and no fetch: the page stays readable offline, in a mail, with JavaScript off.
A line breaks where consecutive points are farther apart than ``Chart.gap_s`` (polls
failed or the host was not polled); failed polls are also marked in red along the
time axis. Every text that comes from data (a mount point, a sensor label) is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
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
    last_poll: float | None = None          # the host's newest poll: "now" is then

    def __post_init__(self) -> None:
        # "now" is the newest sample itself (the series' buckets leave it alone in the
        # last one); one from before the host's last poll says when it is from.
        self.legend = []
        for i, s in enumerate(self.series):
            last_t = s.points[-1][0] if s.points else None
            stale = (last_t is not None and self.last_poll is not None
                     and last_t < self.last_poll - 1)
            self.legend.append(LegendItem(
                s.label, PALETTE[i % len(PALETTE)],
                fmt(s.points[-1][1], self.unit) if s.points else "—",
                fmt(max(p[1] for p in s.points), self.unit) if s.points else "—",
                last_t, stale))

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


@dataclass(frozen=True, slots=True)
class LegendItem:
    label: str
    colour: str
    last: str
    peak: str
    last_at: float | None = None            # the newest sample's time
    stale: bool = False                     # from before the host's newest poll

    @property
    def last_when(self) -> str:
        if self.last_at is None:
            return ""
        return dt.datetime.fromtimestamp(self.last_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


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


# Line paths are written in half units (drawn under ``scale(.5)``), as an absolute start
# then relative whole steps (a level stretch as one "h"): about a third of the bytes of
# absolute coordinates with one decimal, and nothing a screen can show is lost.
UNITS = 2


def _path(xs: list[int], ys: list[int]) -> str:
    parts = [f"M{xs[0]} {ys[0]}"]
    level = 0
    for i in range(1, len(xs)):
        dx, dy = xs[i] - xs[i - 1], ys[i] - ys[i - 1]
        if dy == 0:
            level += dx
            continue
        if level:
            parts.append(f"h{level}")
            level = 0
        parts.append(f"l{dx} {dy}" if parts[-1][0] not in "l " else f" {dx} {dy}")
    if level:
        parts.append(f"h{level}")
    return "".join(parts)


def _line(points: Sequence[tuple[float, float]], gap_s: float, ax: float, bx: float,
          ay: float, by: float) -> tuple[list[str], list[str]]:
    """Paths (in UNITS) of a series' runs without gaps, and dots for lone points; in
    numpy, as this is the report's one loop over every point it draws."""
    if not points:
        return [], []
    arr = np.asarray(points, dtype=float).reshape(-1, 2)
    arr = arr[~np.isnan(arr[:, 1])]
    if not len(arr):
        return [], []
    t = arr[:, 0]
    xs = np.rint(ax + bx * t).astype(np.int64)
    ys = np.rint(ay + by * arr[:, 1]).astype(np.int64)
    cuts = (np.flatnonzero(np.diff(t) > gap_s) + 1).tolist()
    paths, dots = [], []
    for a, b in zip([0, *cuts], [*cuts, len(t)], strict=True):
        if b - a == 1:
            dots.append(f'<circle cx="{xs[a] / UNITS:.1f}" cy="{ys[a] / UNITS:.1f}" r="2"/>')
            continue
        dx, dy = np.diff(xs[a:b]), np.diff(ys[a:b])
        if not dy.any():   # level all along (CPUs, a limit): one stroke
            paths.append(f"M{xs[a]} {ys[a]}h{int(dx.sum())}")
            continue
        steps = np.empty(2 * len(dx), dtype=np.int64)
        steps[0::2], steps[1::2] = dx, dy
        paths.append(f"M{xs[a]} {ys[a]}l" + " ".join(map(str, steps.tolist())))
    return paths, dots


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
    kx, ky = pw / (t1 - t0), ph / (hi - lo)

    def x(t: float) -> float:
        return LEFT + (t - t0) * kx

    def y(v: float) -> float:
        return TOP + ph - (v - lo) * ky

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">']
    # Grid lines and ticks: one path each, the labels after them.
    grid = "".join(f"M{LEFT} {y(v):.1f}h{pw}" for v, _ in yticks)
    xticks = _time_ticks(t0, t1)
    ticks = "".join(f"M{x(t):.1f} {TOP + ph}v4" for t, _ in xticks)
    out.append(f'<path class="grid" d="{grid}"/><path class="tick" d="{ticks}"/>')
    out.extend(f'<text class="yl" x="{LEFT - 4}" y="{y(v) + 4:.1f}">{escape(label)}</text>'
               for v, label in yticks)
    out.extend(f'<text class="xl" x="{x(t):.1f}" y="{HEIGHT - 10}">{escape(label)}</text>'
               for t, label in xticks)
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
        path, dots = _line(s.points, chart.gap_s, UNITS * (LEFT - t0 * kx), UNITS * kx,
                           UNITS * (TOP + ph + lo * ky), -UNITS * ky)
        title = f"<title>{escape(s.label)}</title>"
        if path:
            out.append(f'<path d="{"".join(path)}" stroke="{colour}" transform="scale(.5)">'
                       f'{title}</path>')
        if dots:
            out.append(f'<g fill="{colour}">{title}{"".join(dots)}</g>')
    if not values:
        out.append(f'<text class="empty" x="{LEFT + pw / 2}" y="{TOP + ph / 2}">'
                   f'no data in this window</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every data text above went through escape()


# Sparklines and heatmaps: the fleet on one time axis (series.Grid's columns).

VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
           "#6ece58", "#b5de2b", "#fde725")


def spark(values: Mapping[int, float], cols: int, label: str, top: float = 100.0) -> Markup:
    """A small line of one host's values over the window, a gap where it has none."""
    runs: list[list[int]] = []
    prev = None
    for c in sorted(values):
        if prev is None or c != prev + 1:
            runs.append([])
        runs[-1].append(c)
        prev = c

    def level(c: int) -> int:
        return round(100 - 100 * min(max(values[c], 0.0), top) / top)

    d = "".join(_path([2 * c + 1 for c in r], [level(c) for c in r]) for r in runs if len(r) > 1)
    dots = "".join(f'<rect x="{2 * r[0]}" y="{level(r[0]) - 4}" width="2" height="8"/>'
                   for r in runs if len(r) == 1)
    last = values[max(values)] if values else None
    text = f"{label}: {fmt(last, '%')} at the end of the window" if last is not None \
        else f"{label}: no data in the window"
    return Markup(  # noqa: S704 - the label went through escape()
        f'<svg class="spark" viewBox="0 0 {2 * cols} 100" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(text)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{escape(text)}</title>'
        + (f'<path d="{d}"/>' if d else "") + dots + "</svg>")


@dataclass(frozen=True, slots=True)
class HeatRow:
    label: str
    href: str | None
    values: Mapping[int, float]              # column -> value
    down: Mapping[int, bool] = field(default_factory=dict)   # True: every poll failed


HEAT_W, HEAT_LEFT, HEAT_RIGHT, HEAT_TOP, HEAT_ROW = 1000, 170, 8, 16, 10
LABEL_CHARS = 30


def heatmap(title: str, rows: Sequence[HeatRow], t0: float, t1: float, cols: int,
            top: float = 100.0) -> Markup:
    """One row per host, one cell per column coloured by its value (10 levels of
    viridis, light = busy); red cells: the host was down (every poll failed), a red
    tick: some polls failed; grey: no data."""
    pw = HEAT_W - HEAT_LEFT - HEAT_RIGHT
    cw = pw / cols
    height = HEAT_TOP + HEAT_ROW * len(rows) + 4
    levels: list[list[str]] = [[] for _ in VIRIDIS]
    down, partial, labels = [], [], []
    for r, row in enumerate(rows):
        run: tuple[int, int, int] | None = None          # (level, first column, length)
        for c in range(cols + 1):
            v = row.values.get(c) if c < cols else None
            lv = None if v is None else min(9, max(0, int(10 * v / top)))
            if run is not None and (lv != run[0] or c != run[1] + run[2]):
                levels[run[0]].append(f"M{run[1]} {r}h{run[2]}")
                run = None
            if lv is not None:
                run = (lv, run[1], run[2] + 1) if run else (lv, c, 1)
        for c, all_failed in sorted(row.down.items()):
            (down if all_failed else partial).append(f"M{c} {r}h1")
        shown = row.label if len(row.label) <= LABEL_CHARS else row.label[:LABEL_CHARS - 1] + "…"
        text = (f'<text class="hl" x="{HEAT_LEFT - 4}" y="{HEAT_TOP + HEAT_ROW * r + 8}">'
                f'<title>{escape(row.label)}</title>{escape(shown)}</text>')
        labels.append(f'<a href="{escape(row.href)}">{text}</a>' if row.href else text)
    out = [f'<svg class="heatmap" viewBox="0 0 {HEAT_W} {height}" role="img" '
           f'aria-label="{escape(title)}" data-rows="{len(rows)}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<rect class="nodata" x="{HEAT_LEFT}" y="{HEAT_TOP}" width="{pw}" '
           f'height="{HEAT_ROW * len(rows)}"/>']
    for t, label in _time_ticks(t0, t1):
        xx = HEAT_LEFT + (t - t0) / max(t1 - t0, 1) * pw
        out.append(f'<text class="xl" x="{xx:.1f}" y="11">{escape(label)}</text>'
                   f'<line class="tick" x1="{xx:.1f}" x2="{xx:.1f}" y1="{HEAT_TOP - 3}" '
                   f'y2="{height - 4}"/>')
    out.append(f'<g transform="translate({HEAT_LEFT} {HEAT_TOP + HEAT_ROW / 2}) '
               f'scale({cw:.4f} {HEAT_ROW})">')
    for lv, segs in enumerate(levels):
        if segs:
            out.append(f'<path class="cell" stroke="{VIRIDIS[lv]}" d="{"".join(segs)}"/>')
    if down:
        out.append(f'<path class="down" d="{"".join(down)}"><title>down: every poll '
                   f'failed</title></path>')
    if partial:
        out.append(f'<path class="partial" transform="translate(0 .4)" d="{"".join(partial)}">'
                   f'<title>some polls failed</title></path>')
    out.append("</g>")
    out.extend(labels)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every data text above went through escape()


def heat_scale(top: float = 100.0, unit: str = "%") -> Markup:
    """The heatmap's key, as HTML."""
    cells = "".join(f'<span style="background:{c}" title="{top * i / 10:.0f}–'
                    f'{top * (i + 1) / 10:.0f} {unit}"></span>' for i, c in enumerate(VIRIDIS))
    return Markup(  # noqa: S704 - constants only
        f'<span class="heatkey">0 {unit} {cells} {top:.0f} {unit}'
        f' <span class="downkey"></span> down <span class="nodatakey"></span> no data</span>')
