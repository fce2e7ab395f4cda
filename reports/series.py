"""Time series for one host's charts, downsampled in SQL to a few hundred points.

Each query reads one host's rows in the window and groups them into buckets of
``step`` seconds; a point's time is the mean time of its samples, so missing polls
show as gaps rather than being smeared. Counters become rates here (delta over time
within the host, a counter that went down counts from zero, as in the ``*_rates``
views); a bucket's rate is its total delta over its total time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from onion.core.sqltext import ident
from onion.reports.sql import Con

POINTS = 240
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
          43200, 86400)

Points = list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Window:
    """One host's chart window: [t0, t1] in epoch seconds, bucket width, gap threshold."""

    host: str
    start: dt.datetime
    t0: float
    t1: float
    step: float
    gap_s: float


def window(con: Con, host: str, start: dt.datetime, end: dt.datetime) -> Window:
    row = con.execute("""
        WITH p AS (SELECT ts, epoch(ts) - epoch(lag(ts) OVER (ORDER BY ts)) AS d
                   FROM polls WHERE host = $host AND ts >= $start)
        SELECT min(epoch(ts)), median(d) FROM p""",
        {"host": host, "start": start}).fetchone()
    t1 = end.replace(tzinfo=dt.UTC).timestamp()
    first, interval = (row or (None, None))
    t0 = float(first) if first is not None else start.replace(tzinfo=dt.UTC).timestamp()
    t0 = min(t0, t1 - 1)
    interval = float(interval or 0)
    raw = max((t1 - t0) / POINTS, interval, 1.0)
    step = float(next((s for s in _STEPS if s >= raw), math.ceil(raw / 86400) * 86400))
    return Window(host, start, t0, t1, step, 1.6 * max(step, interval))


def _run(con: Con, w: Window, sql: str) -> list[tuple]:
    return con.execute(sql, {"host": w.host, "start": w.start, "step": w.step}).fetchall()


def gauges(con: Con, w: Window, table: str, exprs: Sequence[str],
           key: str | None = None, where: str = "") -> dict[str, list[Points]]:
    """key -> one list of points per expression (an aggregate over the bucket's rows).

    ``key`` is an SQL expression (quoted by the caller) that splits the rows into items.
    """
    k = f"CAST({key} AS VARCHAR)" if key else "''"
    cols = ", ".join(exprs)
    rows = _run(con, w, f"""
        SELECT {k} AS k, avg(epoch(ts)) AS t, {cols} FROM {ident(table)}
        WHERE host = $host AND ts >= $start{where}
        GROUP BY k, floor(epoch(ts) / $step) ORDER BY k, t""")
    return _split(rows, len(exprs))


def rates(con: Con, w: Window, table: str, counters: Sequence[str], outputs: Sequence[str],
          key: str | None = None) -> dict[str, list[Points]]:
    """Per-second rates of ``counters`` (named ``d_<counter>``, ``dt`` in ``outputs``)."""
    k = f"CAST({key} AS VARCHAR)" if key else "''"
    part = f"PARTITION BY {key} " if key else ""
    deltas = ", ".join(
        f"CASE WHEN {ident(c)} >= lag({ident(c)}) OVER w "
        f"THEN {ident(c)}::DOUBLE - lag({ident(c)}) OVER w "
        f"ELSE {ident(c)}::DOUBLE END AS {ident('d_' + c)}" for c in counters)
    rows = _run(con, w, f"""
        WITH r AS (SELECT {k} AS k, ts, epoch(ts) - epoch(lag(ts) OVER w) AS dt, {deltas}
                   FROM {ident(table)} WHERE host = $host AND ts >= $start
                   WINDOW w AS ({part}ORDER BY ts))
        SELECT k, avg(epoch(ts)) AS t, {", ".join(outputs)} FROM r
        WHERE dt > 0 GROUP BY k, floor(epoch(ts) / $step) ORDER BY k, t""")
    return _split(rows, len(outputs))


def _split(rows: list[tuple], n: int) -> dict[str, list[Points]]:
    out: dict[str, list[Points]] = {}
    for row in rows:
        lists = out.setdefault(row[0], [[] for _ in range(n)])
        for i in range(n):
            v = row[2 + i]
            if v is not None:
                lists[i].append((float(row[1]), float(v)))
    return out


def failed_polls(con: Con, w: Window) -> list[float]:
    return [r[0] for r in _run(con, w, """
        SELECT DISTINCT floor(epoch(ts) / $step) * $step + $step / 2 AS t FROM polls
        WHERE host = $host AND ts >= $start AND status <> 'ok' ORDER BY t""")]
