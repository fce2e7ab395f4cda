"""Line charts as inline SVG, drawn at render time: axes, units, UTC time labels, gaps.

No script and no fetch: the page stays readable offline, in a mail, with JavaScript off.
A line breaks where consecutive points are farther apart than ``Chart.gap_s`` (polls
failed or the host was not polled); failed polls are also marked in red along the
time axis. Every text that comes from data (a mount point, a sensor label) is escaped,
and so is every text for people (in the language in use, :mod:`onion.core.i18n`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np
from markupsafe import Markup, escape

from onion.core import i18n
from onion.core.i18n import _, decimal, ngettext
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
                fmt(max(map(itemgetter(1), s.points)), self.unit) if s.points else "—",
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
        return i18n.formats().datetime(dt.datetime.fromtimestamp(self.last_at, dt.UTC))


def fmt(value: float, unit: str) -> str:
    if unit == "B/s":
        return human_bytes(value) + "/s"
    if unit == "B":
        return human_bytes(value)
    digits = 2 if unit in ("", "s") and abs(value) < 10 else (1 if abs(value) < 10 else 0)
    text = decimal(f"{value:.{digits}f}")
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
        ticks.append((v * scale, f"{decimal(label)} {name}".strip()))
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
        label = i18n.formats().clock(dt.datetime.fromtimestamp(t, dt.UTC), pattern)
        out.append((t, label))
        t += step
    return out


# Line paths are written in whole pixels, as an absolute start then relative whole steps
# (a level stretch as one "h", no blank before a minus): about a third of the bytes of
# absolute coordinates with one decimal; a line's corners move by at most half a pixel.
UNITS = 1
# Steps as text, a blank before each one that is not negative ("6-3 6 5" joins them):
# looked up, as str() of every number was most of a chart's time.
_STEP_MAX = 4096
_STEP_TEXT = [f" {i}" if i >= 0 else str(i) for i in range(-_STEP_MAX, _STEP_MAX)]


def _joined(numbers: np.ndarray) -> str:
    """``6-3 6 5`` of the numbers (whole ones)."""
    if len(numbers) and -_STEP_MAX <= numbers.min() and numbers.max() < _STEP_MAX:
        return "".join(map(_STEP_TEXT.__getitem__, (numbers + _STEP_MAX).tolist())).lstrip()
    return " ".join(map(str, numbers.tolist())).replace(" -", "-")


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
        sep = " " if dy >= 0 else ""
        parts.append(f"l{dx}{sep}{dy}" if parts[-1][0] not in "l " else f" {dx}{sep}{dy}")
    if level:
        parts.append(f"h{level}")
    return "".join(parts)


def _steps(x0: int, y0: int, dx: np.ndarray, dy: np.ndarray) -> str:
    """``M x0 y0`` then the steps: each run of level steps one ``h``, the others ``l``
    pairs (``6-4`` needs no blank: the minus starts the next number)."""
    moving = np.flatnonzero(dy)
    if not len(moving):
        return f"M{x0} {y0}h{int(dx.sum())}"
    if 10 * (len(dy) - len(moving)) < len(dy):   # hardly a level step: pairs alone, fast
        pairs = np.empty(2 * len(dx), dtype=np.int64)
        pairs[0::2], pairs[1::2] = dx, dy
        return f"M{x0} {y0}l" + _joined(pairs)
    level = np.concatenate(([0], np.cumsum(np.where(dy == 0, dx, 0))))
    # Level distance before each moving step (since the previous one), and after the last.
    before = np.diff(level[moving], prepend=0).tolist()
    tail = int(level[-1] - level[moving[-1] + 1])
    out = [f"M{x0} {y0}"]
    first = True
    for h, a, b in zip(before, dx[moving].tolist(), dy[moving].tolist(), strict=True):
        lead = f"h{h}l" if h else ("l" if first else " ")
        out.append(f"{lead}{a} {b}" if b >= 0 else f"{lead}{a}{b}")
        first = False
    if tail:
        out.append(f"h{tail}")
    return "".join(out)


def _envelope(v: np.ndarray, cols: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Indexes of the points to keep where more than one falls in a pixel column (of
    one run between gaps): the first, lowest, highest and last of each, so a spike
    survives and the line looks the same."""
    starts = np.flatnonzero(np.diff(cols, prepend=cols[0] - 1) | np.diff(runs, prepend=-1))
    seg = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(v))))
    keep = np.zeros(len(v), dtype=bool)
    keep[starts] = True
    keep[np.append(starts[1:], len(v)) - 1] = True
    for extreme in (np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)):
        at = np.flatnonzero(v == extreme[seg])
        keep[at[np.unique(seg[at], return_index=True)[1]]] = True   # the first of each
    return np.flatnonzero(keep)


def _line(points: Sequence[tuple[float, float]] | np.ndarray, gap_s: float, ax: float,
          bx: float, ay: float, by: float) -> tuple[list[str], list[str]]:
    """Paths (in UNITS) of a series' runs without gaps, and dots for lone points; in
    numpy, as this is the report's one loop over every point it draws. More points than
    pixel columns are thinned to each column's first, lowest, highest and last."""
    if not len(points):
        return [], []
    arr = _array(points)
    if np.isnan(arr[:, 1]).any():
        arr = arr[~np.isnan(arr[:, 1])]
        if not len(arr):
            return [], []
    t = arr[:, 0]
    xs = np.rint(ax + bx * t).astype(np.int64)
    ys = np.rint(ay + by * arr[:, 1]).astype(np.int64)
    gaps = np.diff(t) > gap_s                                     # before thinning
    if len(xs) > 2 * (int(xs[-1] - xs[0]) // UNITS + 1):
        runs = np.concatenate(([0], np.cumsum(gaps)))
        keep = _envelope(arr[:, 1], xs // UNITS, runs)
        xs, ys = xs[keep], ys[keep]
        gaps = np.diff(runs[keep]) != 0
    cuts = (np.flatnonzero(gaps) + 1).tolist()
    dxs, dys = np.diff(xs), np.diff(ys)
    paths, dots = [], []
    for a, b in zip([0, *cuts], [*cuts, len(xs)], strict=True):
        if b - a == 1:
            dots.append(f'<circle cx="{_n(xs[a] / UNITS)}" cy="{_n(ys[a] / UNITS)}" r="2"/>')
            continue
        paths.append(_steps(int(xs[a]), int(ys[a]), dxs[a:b - 1], dys[a:b - 1]))
    return paths, dots


def _n(v: float) -> str:
    """A coordinate: whole numbers without a decimal, the rest with one."""
    r = round(v, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


_GRID = 'fill="none" stroke="#e8eaed" stroke-width="1"'
_TICK = 'fill="none" stroke="#9aa0a6" stroke-width="1"'
_YL = 'text-anchor="end" fill="#5f6670"'
_XL = 'text-anchor="middle" fill="#5f6670"'
_FRAME = 'fill="none" stroke="#c4c8cd"'
_FAILED = 'fill="none" stroke="#c0392b" stroke-width="5"'


@functools.lru_cache(maxsize=256)
def _frame(t0: float, t1: float, lo: float, hi: float, unit: str, lang: str = "en"
           ) -> tuple[str, str, float, float]:
    """A chart's value axis (grid, labels), its time axis (ticks, labels, frame) and
    its value range rounded to ticks: the charts of a page share their time axis and
    many their value axis, so each is drawn once for many. ``lang``: the language the
    labels are in (their decimal separator), so that it is part of the cache's key."""
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    lo, hi, yticks = _y_axis(lo, hi, unit)
    kx, ky = pw / (t1 - t0), ph / (hi - lo)

    def x(t: float) -> str:
        return _n(LEFT + (t - t0) * kx)

    def y(v: float) -> float:
        return TOP + ph - (v - lo) * ky

    xticks = _time_ticks(t0, t1)
    grid = "".join(f"M{LEFT} {_n(y(v))}h{pw}" for v, _ in yticks)
    ticks = "".join(f"M{x(t)} {TOP + ph}v4" for t, _ in xticks)
    # Presentation attributes as well as classes: a page's style sheet does not reach
    # into a <use> copy (Axes), and the look must not depend on where the axes are.
    ys = "".join(f'<text x="{LEFT - 4}" y="{_n(y(v) + 4)}">{escape(label)}</text>'
                 for v, label in yticks)
    xs = "".join(f'<text x="{x(t)}" y="{HEIGHT - 10}">{escape(label)}</text>'
                 for t, label in xticks)
    return (f'<path class="grid" d="{grid}" {_GRID}/><g class="yl" {_YL}>{ys}</g>',
            f'<path class="tick" d="{ticks}" {_TICK}/><g class="xl" {_XL}>{xs}</g>'
            f'<text class="utc" x="2" y="{HEIGHT - 10}" fill="#9aa0a6">UTC</text>'
            f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" {_FRAME}/>',
            lo, hi)


class Axes:
    """The axes of one page's charts, each drawn once: the charts of a host page share
    their time axis and failed polls, most of them their value axis too, so a chart
    names its axes (``<use>``, a reference inside the page, no fetch) instead of
    carrying a copy. :meth:`defs` is then put once on the page."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def use(self, markup: str) -> str:
        name = self.ids.get(markup)
        if name is None:
            name = self.ids[markup] = f"ax{len(self.ids)}"
        return f'<use href="#{name}"/>'

    def defs(self) -> Markup:
        """Every axis named so far, in an ``<svg>`` drawn nowhere (empty if none)."""
        if not self.ids:
            return Markup("")
        inner = "".join(f'<g id="{name}">{markup}</g>' for markup, name in self.ids.items())
        return Markup(  # noqa: S704 - made by draw(), whose data texts went through escape()
            f'<svg class="chart" aria-hidden="true"><defs>{inner}</defs></svg>')


def _array(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """The points as an (n, 2) array: the one a query's points carry (series.Points),
    else made here."""
    found = getattr(points, "array", None)
    return found if found is not None else np.asarray(points, dtype=float).reshape(-1, 2)


def draw(chart: Chart, axes: Axes | None = None) -> Markup:
    """The chart's ``<svg>`` element; with ``axes``, its axes are named, not drawn (put
    ``axes.defs()`` on the page)."""
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t0, t1 = chart.t0, max(chart.t1, chart.t0 + 1)
    arrays = [_array(s.points) for s in chart.series]
    found = [a[:, 1] for a in arrays if len(a)]
    values = np.concatenate(found) if found else np.empty(0)
    values = values[~np.isnan(values)]
    vmin = float(values.min()) if len(values) else None
    vmax = float(values.max()) if len(values) else None
    lo = chart.y_min if chart.y_min is not None else (vmin if vmin is not None else 0.0)
    hi = max(vmax if vmax is not None else lo, chart.y_max or 0.0, lo + 1e-9) \
        if vmax is not None or chart.y_max else lo + 1
    if chart.y_max is not None and not (vmax is not None and vmax > chart.y_max):
        hi = chart.y_max
    if hi - lo < 1e-6 * max(1.0, abs(hi)):   # a flat line: give it room to be seen
        pad = max(1.0, abs(hi) * 0.1)
        lo, hi = (lo - pad if chart.y_min is None else lo), hi + pad
    yaxis, frame, lo, hi = _frame(t0, t1, lo, hi, chart.unit, i18n.language())
    kx, ky = pw / (t1 - t0), ph / (hi - lo)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(chart.title)}">']
    bucket = min(max(pw * chart.gap_s / (t1 - t0) / 2, 1.5), 6.0)
    marked: set[int] = set()
    marks = []
    for t in chart.failed:
        px = round(LEFT + (t - t0) * kx)
        if t0 <= t <= t1 and px not in marked:
            marked.add(px)
            left = min(max(px - bucket / 2, LEFT), LEFT + pw - bucket)
            marks.append(f"M{_n(left)} {TOP + ph - 2.5}h{_n(bucket)}")   # a 5 px stroke
    if marks:
        frame += f'<path class="failed" d="{"".join(marks)}" {_FAILED}/>'
    out.extend((axes.use(yaxis), axes.use(frame)) if axes is not None else (yaxis, frame))
    if marks:
        tip = ngettext("red mark: a failed poll ({n})", "red marks: failed polls ({n})",
                       len(chart.failed)).format(n=len(chart.failed))
        out.append(f"<title>{escape(tip)}</title>")
    lines = []
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        path, dots = _line(arrays[i], chart.gap_s, UNITS * (LEFT - t0 * kx), UNITS * kx,
                           UNITS * (TOP + ph + lo * ky), -UNITS * ky)
        title = f"<title>{escape(s.label)}</title>"
        if path:
            lines.append(f'<path d="{"".join(path)}" stroke="{colour}">{title}</path>')
        if dots:
            out.append(f'<g fill="{colour}">{title}{"".join(dots)}</g>')
    if lines:
        out.append(f'<g class="ln">{"".join(lines)}</g>')
    if not len(values):
        out.append(f'<text class="empty" x="{LEFT + pw / 2}" y="{TOP + ph / 2}">'
                   f'{escape(_("no data in this window"))}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every data text above went through escape()


def figure(chart: Chart, axes: Axes | None = None) -> Markup:
    """The chart with its caption and legend: the markup of ``_chart.html``, without a
    template call per chart (a 200-host report draws 2,800 of them)."""
    unit = f' <span class="unit">({escape(chart.unit)})</span>' if chart.unit else ""
    out = [f'<figure class="chart">\n<figcaption>{escape(chart.title)}{unit}</figcaption>\n',
           draw(chart, axes), "\n"]
    if chart.legend:
        now, peak = escape(_("now %(value)s")), escape(_("peak %(value)s"))
        out.append('<ul class="legend">\n')
        for i, item in enumerate(chart.legend):
            if item.stale:
                why = escape(_("the host's newest poll had no value"))
                last = escape(_("last %(value)s, as of %(ts)s")) % {
                    "value": item.last, "ts": item.last_when}
                value = f'<span class="stale" title="{why}">{last}</span>'
            else:
                value = f'<span class="now">{now % {"value": item.last}}</span>'
            out.append(f'<li class="c{i % len(PALETTE)}">{escape(item.label)} '
                       f'<span class="v">{value} · {peak % {"value": item.peak}}</span></li>\n')
        out.append("</ul>\n")
    out.append("</figure>")
    return Markup("".join(out))  # noqa: S704 - every text above went through escape()


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
    text = _("{label}: {value} at the end of the window").format(
        label=label, value=fmt(last, "%")) if last is not None \
        else _("{label}: no data in the window").format(label=label)
    return Markup(  # noqa: S704 - the label went through escape()
        f'<svg class="spark" viewBox="0 0 {2 * cols} 100" preserveAspectRatio="none" '
        f'role="img"><title>{escape(text)}</title>'
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
           f'aria-label="{escape(title)}" data-rows="{len(rows)}">',
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
        out.append(f'<path class="down" d="{"".join(down)}">'
                   f'<title>{escape(_("down: every poll failed"))}</title></path>')
    if partial:
        out.append(f'<path class="partial" transform="translate(0 .4)" d="{"".join(partial)}">'
                   f'<title>{escape(_("some polls failed"))}</title></path>')
    out.append("</g>")
    out.extend(labels)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every data text above went through escape()


def heat_scale(top: float = 100.0, unit: str = "%") -> Markup:
    """The heatmap's key, as HTML."""
    cells = "".join(f'<span style="background:{c}" title="{top * i / 10:.0f}–'
                    f'{top * (i + 1) / 10:.0f} {unit}"></span>' for i, c in enumerate(VIRIDIS))
    return Markup(  # noqa: S704 - constants, and texts for people through escape()
        f'<span class="heatkey">0 {unit} {cells} {top:.0f} {unit}'
        f' <span class="downkey"></span> {escape(_("down"))} <span class="nodatakey"></span>'
        f' {escape(_("no data"))}</span>')
