"""Time series for the charts, downsampled in SQL, for many hosts in one query per table.

Buckets are counted back from each item's newest sample: bucket 0 holds that sample
alone, so a line ends at the last poll with its exact value (the legend's "now"), and
a gauge, a load and a rate of one poll end at the same time. Where the window is short
enough that buckets would hold one or two polls anyway, each poll is its own point
(``step`` 0): 60 s polls are never averaged into 120 s buckets that hide the newest
one. A point's time is the mean time of its samples, so missing polls show as gaps.

Counters become rates here (delta over time within the host and item; a counter that
went down counts from zero, as in the ``*_rates`` views); a bucket's rate is its total
delta over its total time, so a rate has a point from the second poll on.

Every query reads a table once for all the hosts asked (``Batch``): a host page no
longer costs a scan of each table's whole window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onion.core.sqltext import ident
from onion.reports.sql import Con

POINTS = 160    # about 3 px of the 490 px plot a point; 7 days of polls: 2 h buckets
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
          43200, 86400)



class Points(list[tuple[float, float]]):
    """A series' (epoch seconds, value) points, oldest first; read from a query, they are
    also kept as an (n, 2) array (``array``), what a chart draws from: made from the
    tuples again, they cost a report more than drawing them. Read-only: the array does
    not follow a change to the list."""

    __slots__ = ("array",)


Keyed = dict[str, list[Points]]


@dataclass(frozen=True, slots=True)
class Window:
    """One host's chart window: [t0, t1] in epoch seconds, bucket width, gap threshold.

    ``step`` 0: every poll is its own point. ``last_poll``: the host's newest poll (any
    status), the time a current value would have; ``last_ok``: its newest good one.
    """

    host: str
    start: dt.datetime
    t0: float
    t1: float
    step: float
    gap_s: float
    interval: float = 0.0
    last_poll: float | None = None
    last_ok: float | None = None

    @property
    def anchor(self) -> float:
        """Buckets count back from here: the newest good poll, whose samples are the
        newest there are (rows of a failed poll do not exist)."""
        return self.last_ok if self.last_ok is not None else self.t1


def _epoch(t: dt.datetime) -> float:
    return t.replace(tzinfo=dt.UTC).timestamp()


def choose_step(span: float, interval: float, points: int = POINTS) -> float:
    """Bucket width for ``span`` seconds of polls every ``interval``: 0 (each poll a point)
    while that gives at most about ``2 × points`` points, else a round width."""
    raw = max(span / points, 1.0)
    if interval > 0 and raw < 2 * interval:
        return 0.0
    return float(next((s for s in _STEPS if s >= raw), math.ceil(raw / 86400) * 86400))


def _window(host: str, start: dt.datetime, end: dt.datetime, first: float | None,
            interval: float | None, last: float | None, last_ok: float | None) -> Window:
    t1 = _epoch(end)
    t0 = float(first) if first is not None else _epoch(start)
    t0 = min(t0, t1 - 1)
    iv = float(interval or 0)
    step = choose_step(t1 - t0, iv)
    return Window(host, start, t0, t1, step, 1.6 * max(step, iv, 1.0), iv,
                  float(last) if last is not None else None,
                  float(last_ok) if last_ok is not None else None)


def windows(con: Con, start: dt.datetime, end: dt.datetime,
            hosts: Iterable[str] | None = None) -> dict[str, Window]:
    """Every host's window (those with polls in it), in one pass over ``polls``; the
    poll interval is the mean one (a median would cost a window function per poll)."""
    chosen = None if hosts is None else list(hosts)
    where = " AND host IN (SELECT unnest($hosts))" if chosen is not None else ""
    params: dict[str, Any] = {"start": start, **({"hosts": chosen} if chosen is not None else {})}
    rows = con.execute(f"""
        SELECT host, min(epoch(ts)),
               (max(epoch(ts)) - min(epoch(ts))) / nullif(count(*) - 1, 0),
               max(epoch(ts)), max(epoch(ts)) FILTER (WHERE status = 'ok')
        FROM polls WHERE ts >= $start{where} GROUP BY host""",
                       params).fetchall()
    found = {r[0]: _window(r[0], start, end, *r[1:]) for r in rows}
    for h in chosen or ():
        found.setdefault(h, _window(h, start, end, None, None, None, None))
    return found


def window(con: Con, host: str, start: dt.datetime, end: dt.datetime) -> Window:
    return windows(con, start, end, [host])[host]


def _wparams(ws: Mapping[str, Window], start: dt.datetime) -> dict[str, Any]:
    return {"hosts": list(ws), "steps": [w.step for w in ws.values()], "start": start,
            "tls": [w.anchor for w in ws.values()]}


# Hosts asked, each with its bucket width and the time its buckets count back from; only
# their rows are read (a table is read once for all of them, or for a chunk of a report's).
_W = "w AS (SELECT unnest($hosts) AS host, unnest($steps) AS step, unnest($tls) AS tl)"
_BUCKET = "CASE WHEN w.step = 0 THEN t ELSE ceil((tl - t) / w.step) END"


def _start(ws: Mapping[str, Window]) -> dt.datetime:
    return min(w.start for w in ws.values())


def gauges_many(con: Con, ws: Mapping[str, Window], table: str, exprs: Sequence[str],
                key: str | None = None, where: str = "") -> dict[str, Keyed]:
    """host -> key -> one list of points per expression (an aggregate over the bucket).

    ``key`` is an SQL expression (quoted by the caller) that splits a host's rows into
    items.
    """
    if not ws:
        return {}
    k = f"CAST({key} AS VARCHAR)" if key else "''"
    rows = con.execute(f"""
        WITH {_W}
        SELECT host, k, avg(t) AS t_, {", ".join(exprs)}
        FROM (SELECT x.*, {k} AS k, epoch(x.ts) AS t FROM {ident(table)} x
              WHERE x.ts >= $start AND x.host IN (SELECT unnest($hosts)){where})
             JOIN w USING (host)
        GROUP BY host, k, {_BUCKET} ORDER BY host, k, t_""",
                       _wparams(ws, _start(ws)))
    return _split(rows, len(exprs))


def rates_many(con: Con, ws: Mapping[str, Window], table: str, counters: Sequence[str],
               outputs: Sequence[str], key: str | None = None) -> dict[str, Keyed]:
    """Per-second rates of ``counters`` (named ``d_<counter>``, ``dt`` in ``outputs``)."""
    if not ws:
        return {}
    k = f"CAST({key} AS VARCHAR)" if key else "''"
    part = f"PARTITION BY host, {key} " if key else "PARTITION BY host "
    # Each lag once (a CASE naming it twice made DuckDB compute it twice).
    prevs = ", ".join(f"{ident(c)}::DOUBLE AS {ident('c_' + c)}, "
                      f"(lag({ident(c)}) OVER p)::DOUBLE AS {ident('p_' + c)}" for c in counters)
    deltas = ", ".join(
        f"CASE WHEN {ident('c_' + c)} >= {ident('p_' + c)} "
        f"THEN {ident('c_' + c)} - {ident('p_' + c)} ELSE {ident('c_' + c)} END "
        f"AS {ident('d_' + c)}" for c in counters)
    rows = con.execute(f"""
        WITH {_W},
        r0 AS (SELECT host, {k} AS k, epoch(ts) AS t, epoch(lag(ts) OVER p) AS pt, {prevs}
               FROM {ident(table)} WHERE ts >= $start AND host IN (SELECT unnest($hosts))
               WINDOW p AS ({part}ORDER BY ts)),
        q AS (SELECT host, k, t, t - pt AS dt, {deltas} FROM r0 WHERE t - pt > 0)
        SELECT host, k, avg(t) AS t_, {", ".join(outputs)} FROM q JOIN w USING (host)
        GROUP BY host, k, {_BUCKET} ORDER BY host, k, t_""",
                       _wparams(ws, _start(ws)))
    return _split(rows, len(outputs))


def _split(rel: Con, n: int) -> dict[str, Keyed]:
    """host -> key -> points, from a result ordered by host, key, time (the columns
    host, key, time, then ``n`` values): in numpy, as a report's series are a few
    hundred thousand rows."""
    cols = list(rel.fetchnumpy().values())
    if not len(cols[0]):
        return {}
    host, key = np.asarray(cols[0], dtype=object), np.asarray(cols[1], dtype=object)
    t = np.ma.filled(np.ma.asarray(cols[2]).astype(float), np.nan)
    vals = [np.ma.filled(np.ma.asarray(c).astype(float), np.nan) for c in cols[3:3 + n]]
    cuts = (np.flatnonzero((host[1:] != host[:-1]) | (key[1:] != key[:-1])) + 1).tolist()
    out: dict[str, Keyed] = {}
    for a, b in zip([0, *cuts], [*cuts, len(t)], strict=True):
        lists: list[Points] = []
        for v in vals:
            seg, ts = v[a:b], t[a:b]
            keep = ~np.isnan(seg)
            seg, ts = seg[keep], ts[keep]
            pts = Points(zip(ts.tolist(), seg.tolist(), strict=True))
            pts.array = np.column_stack((ts, seg))
            lists.append(pts)
        out.setdefault(str(host[a]), {})[str(key[a])] = lists
    return out


def failed_many(con: Con, ws: Mapping[str, Window]) -> dict[str, list[float]]:
    """host -> times of its failed polls in the window."""
    if not ws:
        return {}
    out: dict[str, list[float]] = {}
    for host, t in con.execute(
            "SELECT host, epoch(ts) FROM polls WHERE ts >= $start AND status <> 'ok' "
            "AND host IN (SELECT unnest($hosts)) ORDER BY host, ts",
            {"hosts": list(ws), "start": _start(ws)}).fetchall():
        out.setdefault(host, []).append(float(t))
    return out


class Batch:
    """Series of many hosts, one query per table and question, asked once and kept."""

    def __init__(self, con: Con, ws: Mapping[str, Window]) -> None:
        self.con, self.ws = con, dict(ws)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _get(self, key: tuple[Any, ...], fetch: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def gauges(self, table: str, exprs: Sequence[str], key: str | None = None,
               where: str = "") -> dict[str, Keyed]:
        return self._get(("g", table, tuple(exprs), key, where),
                         lambda: gauges_many(self.con, self.ws, table, exprs, key, where))

    def rates(self, table: str, counters: Sequence[str], outputs: Sequence[str],
              key: str | None = None) -> dict[str, Keyed]:
        return self._get(("r", table, tuple(counters), tuple(outputs), key),
                         lambda: rates_many(self.con, self.ws, table, counters, outputs, key))

    def failed(self) -> dict[str, list[float]]:
        return self._get(("f",), lambda: failed_many(self.con, self.ws))


# One host at a time (the GUI and older callers): the same queries for one host.

def gauges(con: Con, w: Window, table: str, exprs: Sequence[str],
           key: str | None = None, where: str = "") -> Keyed:
    return gauges_many(con, {w.host: w}, table, exprs, key, where).get(w.host, {})


def rates(con: Con, w: Window, table: str, counters: Sequence[str], outputs: Sequence[str],
          key: str | None = None) -> Keyed:
    return rates_many(con, {w.host: w}, table, counters, outputs, key).get(w.host, {})


def failed_polls(con: Con, w: Window) -> list[float]:
    return failed_many(con, {w.host: w}).get(w.host, [])


@dataclass(frozen=True, slots=True)
class Grid:
    """The fleet's window cut into ``cols`` equal columns ending at ``t1`` (heatmaps and
    sparklines: every host on the same time axis)."""

    t0: float
    t1: float
    step: float
    cols: int


def grid(start: dt.datetime, end: dt.datetime, interval: float, cols: int = 96) -> Grid:
    t1 = _epoch(end)
    span = max(t1 - _epoch(start), 1.0)
    raw = max(span / cols, interval, 1.0)
    step = float(next((s for s in _STEPS if s >= raw), math.ceil(raw / 86400) * 86400))
    n = max(1, math.ceil(span / step))
    return Grid(t1 - n * step, t1, step, n)


def _gparams(g: Grid, hosts: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"t0": g.t0, "step": g.step, "gstart": dt.datetime.fromtimestamp(
        g.t0, dt.UTC).replace(tzinfo=None)}
    where = ""
    if hosts is not None:
        params["hosts"] = list(hosts)
        where = " AND host IN (SELECT unnest($hosts))"
    return where, params


_COL = "floor((epoch(ts) - $t0) / $step)::INTEGER"
_FROM = "ts >= $gstart"


def grid_gauge(con: Con, g: Grid, table: str, expr: str,
               hosts: Sequence[str] | None = None) -> dict[str, dict[int, float]]:
    """host -> column -> ``expr`` (an aggregate) over the column's rows."""
    where, params = _gparams(g, hosts)
    out: dict[str, dict[int, float]] = {}
    for host, col, v in con.execute(
            f"SELECT host, {_COL} AS c, {expr} FROM {ident(table)} WHERE {_FROM}{where} "
            "GROUP BY host, c", params).fetchall():
        if v is not None and 0 <= col < g.cols:
            out.setdefault(host, {})[col] = float(v)
    return out


def grid_cpu(con: Con, g: Grid, counters: Sequence[str],
             hosts: Sequence[str] | None = None) -> dict[str, dict[int, float]]:
    """host -> column -> CPU busy % (all counters but idle over all of them)."""
    where, params = _gparams(g, hosts)
    d = {c: f"CASE WHEN {ident(c)} >= lag({ident(c)}) OVER p THEN {ident(c)}::DOUBLE - "
            f"lag({ident(c)}) OVER p ELSE {ident(c)}::DOUBLE END" for c in counters}
    tot = " + ".join(f"coalesce({e}, 0)" for e in d.values())
    out: dict[str, dict[int, float]] = {}
    for host, col, v in con.execute(f"""
            WITH r AS (SELECT host, ts, {tot} AS total, {d['idle_seconds']} AS idle,
                              epoch(ts) - epoch(lag(ts) OVER p) AS dt
                       FROM cpu WHERE {_FROM}{where} WINDOW p AS (PARTITION BY host ORDER BY ts))
            SELECT host, {_COL} AS c, 100 * (sum(total) - sum(idle)) / nullif(sum(total), 0)
            FROM r WHERE dt > 0 GROUP BY host, c""", params).fetchall():
        if v is not None and 0 <= col < g.cols:
            out.setdefault(host, {})[col] = float(v)
    return out


def grid_down(con: Con, g: Grid, hosts: Sequence[str] | None = None
              ) -> dict[str, dict[int, bool]]:
    """host -> column -> True where every poll failed, False where some did."""
    where, params = _gparams(g, hosts)
    out: dict[str, dict[int, bool]] = {}
    for host, col, ok, bad in con.execute(
            f"SELECT host, {_COL} AS c, count(*) FILTER (WHERE status = 'ok'), "
            f"count(*) FILTER (WHERE status <> 'ok') FROM polls WHERE {_FROM}{where} "
            "GROUP BY host, c HAVING count(*) FILTER (WHERE status <> 'ok') > 0",
            params).fetchall():
        if 0 <= col < g.cols:
            out.setdefault(host, {})[col] = not ok and bool(bad)
    return out
