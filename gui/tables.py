"""The views' tables as plain data: display text, sort order, row marks (no Qt here).

Everything a model serves is computed here, on the worker thread: the text of each cell
and, per column, each row's rank in sorted order. The model then answers ``data()`` by
indexing lists, and sorting compares integers in Qt's C++ (a 10,000-host fleet sorts
without one Python call per comparison).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from onion.core.natural import natural_key
from onion.gui import data
from onion.gui.i18n import N_, _, decimal, formats
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports.filters import age, duration, human_bytes, number, timestamp


class Mark(StrEnum):
    """How a row is drawn."""

    OK = "ok"
    DOWN = "down"          # the host's last poll failed (or it was never polled)
    STALE = "stale"        # its last poll is older than the poller's rhythm allows
    PROBLEM = "problem"    # up, with something to look at (alert, full disk, hot sensor)
    FIRING = "firing"      # an alert row that is firing now


@dataclass(slots=True)
class Table:
    columns: list[str]
    cells: list[list[str]] = field(default_factory=list)
    ranks: list[list[int]] = field(default_factory=list)    # [column][row]
    marks: list[Mark] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)           # one per row ("" for none)
    keys: list[str] = field(default_factory=list)           # what a row stands for (a host)
    search: list[str] = field(default_factory=list)         # a row's text, lower case

    @property
    def rows(self) -> int:
        return len(self.cells)


def _sortable(v: Any) -> tuple[int, Any]:
    """Nones last; numbers by value; text in natural order (node9 before node10)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (2, 0)
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, dt.datetime):
        return (0, v.timestamp())
    return (1, natural_key(str(v)))


def build(columns: Sequence[str], rows: Sequence[Sequence[Any]], shown: Sequence[Sequence[str]],
          marks: Sequence[Mark] | None = None, tips: Sequence[str] | None = None,
          keys: Sequence[str] | None = None) -> Table:
    """A table from raw values (sorted by) and their display text (shown)."""
    t = Table(list(columns), [list(r) for r in shown],
              marks=list(marks or [Mark.OK] * len(shown)),
              tips=list(tips or [""] * len(shown)), keys=list(keys or [""] * len(shown)),
              search=["\t".join(r).lower() for r in shown])
    for c in range(len(columns)):
        order = sorted(range(len(rows)), key=lambda i, c=c: _sortable(rows[i][c]))
        rank = [0] * len(rows)
        for pos, i in enumerate(order):
            rank[i] = pos
        t.ranks.append(rank)
    return t


def _pct(v: float | None) -> str:
    return number(v, 0, "%")


def _fleet_row(r: Any, snap: data.FleetSnapshot) -> tuple[list[Any], list[str], Mark, str]:
    f = r.facts
    now = snap.now
    stale = r.last_seen is not None and now - r.last_seen > snap.stale_after
    polling = r.name in snap.polling
    status = r.status + (" " + _("(polling)") if polling else "")
    if r.since is not None:
        status += " " + (_("for {took}").format(took=duration((now - r.since).total_seconds()))
                         if r.since_window else _("since {ts}").format(ts=age(r.since, now)))
    as_of = f.get("cpu_ts")

    def old(ts_key: str) -> str:
        # A value from before the host's last poll says when it is from.
        ts = f.get(ts_key)
        return " " + _("(as of {age})").format(age=age(ts, now)) if ts is not None \
            and r.last_seen is not None and ts < r.last_seen else ""

    load = r.load_ratio
    cpu = (_("{load} on {n} CPUs").format(load=number(f["load_1m"], 2), n=f["ncpu"])
           + old("cpu_ts") if load is not None else "—")
    mem = _pct(f.get("mem_pct")) + (old("memory_ts") if f.get("mem_pct") is not None else "")
    fs = (f"{f['fs_mount']} {number(f['fs_pct'], 0, '%')}{old('filesystems_ts')}"
          if f.get("fs_pct") is not None else "—")
    hot = (f"{f['hot_label']} {number(f['hot_c'], 0, '°C')}{old('temperatures_ts')}"
           if f.get("hot_c") is not None else "—")
    gpu = "—"
    if f.get("gpus"):
        users = f.get("gpu_users") or []
        gpu = _("{n}× {busy} busy, {memory} memory").format(
            n=f["gpus"], busy=number(f.get("gpu_util"), 0, "%"),
            memory=number(f.get("gpu_mem"), 0, "%")) + old("gpu_ts")
        if users:
            gpu += " · " + ", ".join(users[:3]) + (f" +{len(users) - 3}" if len(users) > 3 else "")
    alerts = ", ".join(r.alerts) if r.alerts else ""
    # Status sorts as the fleet page ranks hosts: down, firing, with problems, fine.
    raw = [r.name, r.rank, r.last_seen, load, f.get("mem_pct"), f.get("fs_pct"),
           f.get("hot_c"), f.get("gpu_util"), len(r.alerts) or None, len(r.problems) or None]
    shown = [r.name, status, age(r.last_seen, now), cpu, mem, fs, hot, gpu, alerts,
             "; ".join(r.problems)]
    mark = Mark.DOWN if not r.up else Mark.STALE if stale else \
        Mark.PROBLEM if r.rank < 3 else Mark.OK
    tip = "\n".join(x for x in (
        f"{r.name}: {r.status}" + (f" ({r.reason})" if r.reason else ""),
        (_("{status} since {ts}").format(status=r.status, ts=timestamp(r.since, True))
         + (" " + _("(the whole window)") if r.since_window else ""))
        if r.since else "",
        _("last poll {ts}").format(ts=timestamp(r.last_seen, True)),
        _("last ok {ts}").format(ts=timestamp(r.last_ok, True)),
        _("stale: no poll for {took}").format(took=duration((now - r.last_seen).total_seconds()))
        if stale and r.last_seen else "",
        _("groups: {groups}").format(groups=", ".join(r.groups)) if r.groups else "",
        _("data as of {ts}").format(ts=timestamp(as_of, True)) if as_of else "") if x)
    return raw, shown, mark, tip


FLEET_COLUMNS = [N_("Host"), N_("Status"), N_("Last poll"), N_("CPU load"), N_("Memory"),
                 N_("Fullest file system"), N_("Hottest sensor"), N_("GPUs"),
                 N_("Alerts firing"), N_("Problems")]


def fleet_table(snap: data.FleetSnapshot) -> Table:
    raws, shown, marks, tips = [], [], [], []
    for r in snap.rows:
        raw, text, mark, tip = _fleet_row(r, snap)
        raws.append(raw)
        shown.append(text)
        marks.append(mark)
        tips.append(tip)
    return build([_(c) for c in FLEET_COLUMNS], raws, shown, marks, tips,
                 [r.name for r in snap.rows])


def _cell(v: Any, col: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, dt.datetime):
        return timestamp(v, True)
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, float):
        if col.endswith("_bytes"):
            return human_bytes(v)
        if col.endswith("_per_s"):
            return human_bytes(v) + "/s" if "bytes" in col else number(v, 1, "/s")
        if col.endswith("_pct"):
            return number(v, 1, "%")
        if col.endswith("_seconds") or col.endswith("_s"):
            return duration(v) if v >= 60 else number(v, 2, "s")
        return decimal(f"{v:.4g}")
    if isinstance(v, int) and col.endswith("_bytes"):
        return human_bytes(v)
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def dict_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
               mark: Callable[[dict[str, Any]], Mark] | None = None,
               titles: dict[str, str] | None = None) -> Table:
    """Rows of dicts (a query's answer) as a table of their columns."""
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    raws = [[r.get(c) for c in cols] for r in rows]
    shown = [[_cell(r.get(c), c) for c in cols] for r in rows]
    marks = [mark(r) for r in rows] if mark else None
    return build([(titles or {}).get(c, c) for c in cols], raws, shown, marks)


ALERT_COLUMNS = ("rule", "severity", "host", "item", "state", "firing_since", "pending_since",
                 "value", "summary", "last_notified", "notifications", "resolved_at")


def alerts_tables(got: alerts_mod.AlertData) -> tuple[Table, Table]:
    """(firing and other current alerts, history)."""
    state = got.state_col or "state"
    current = [*got.firing, *got.other]
    cols = [c for c in ALERT_COLUMNS if c in got.current_cols] or got.current_cols
    now_t = dict_table(current, cols, mark=lambda r: Mark.FIRING if str(
        r.get(state) or "").lower() == "firing" else Mark.OK)
    return now_t, dict_table(got.events, got.event_cols)


CHANGE_COLUMNS = [N_("When"), N_("What"), N_("Item"), N_("Change"), N_("Hosts")]


def changes_table(sections: dict[str, changes_mod.Section]) -> Table:
    raws, shown = [], []
    for key, s in sections.items():
        if not s.available:
            continue
        for g in s.groups:
            r = g.row
            item = r.get("item") or r.get("path") or ""
            change = r.get("change") or ("reboot" if key == "reboots" else "")
            hosts = ", ".join(g.hosts[:5]) + (" " + _("and {n} more").format(n=len(g.hosts) - 5)
                                              if len(g.hosts) > 5 else "")
            raws.append([g.last, s.title, item, change, len(g.hosts)])
            shown.append([timestamp(g.last, True), s.title, str(item), str(change),
                          f"{len(g.hosts)}: {hosts}" if len(g.hosts) > 1 else hosts])
    order = sorted(range(len(raws)), key=lambda i: -raws[i][0].timestamp())
    return build([_(c) for c in CHANGE_COLUMNS], [raws[i] for i in order],
                 [shown[i] for i in order])


def _when(text: Any) -> Any:
    """A time from the daemon's status (ISO 8601 with a ``Z``) as a language other than
    English writes one; English shows it as the daemon says it."""
    if not isinstance(text, str) or formats().iso:
        return text
    try:
        t = dt.datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return text
    return timestamp(t, True)


def status_lines(status: dict[str, Any] | None, label: str) -> list[tuple[str, str]]:
    """The daemon's status as (label, value) lines."""
    if status is None:
        return [(_("Source"), label),
                (_("Daemon"), _("none: reading the database file; start `onion daemon` "
                                "for live rounds and poll now"))]
    last = status.get("last_round") or {}
    running = status.get("round_running")
    lines = [
        (_("Source"), label),
        (_("Daemon"), _("onion {version} (pid {pid}) since {started}").format(
            version=status.get("version"), pid=status.get("pid"),
            started=_when(status.get("started_at")))),
        (_("Database"), str(status.get("database"))),
        (_("Hosts"), _("{n} every {interval} s").format(
            n=status.get("hosts"), interval=f"{status.get('interval_s', 0):g}")),
        (_("Round now"), _("running since {started}").format(
            started=_when(running.get("started_at")))
         if running else _("none")),
        (_("Next round"), str(_when(status.get("next_round_at")) or "—")),
        (_("Last round"), (_("{started}: {ok} ok, {failed} failed, {wall}").format(
            started=_when(last.get("started_at")), ok=last.get("ok"), failed=last.get("failed"),
            wall=number(last.get("wall_s"), 1, "s")) if last else "—")),
        (_("Rounds"), ", ".join(f"{k} {v}" for k, v in (status.get("rounds") or {}).items())),
        (_("SSH"), _("{open} open, {logins} logins").format(
            open=status.get("connections_open"), logins=status.get("ssh_logins"))),
        (_("Queue"), ", ".join(f"{k}: {v}" for k, v in (status.get("queue") or {}).items())
         or _("empty")),
    ]
    if status.get("last_reload_error"):
        lines.append((_("Reload refused"), str(status["last_reload_error"])))
    return lines


__all__ = ["FLEET_COLUMNS", "Mark", "Table", "alerts_tables", "build", "changes_table",
           "dict_table", "fleet_table", "status_lines"]
