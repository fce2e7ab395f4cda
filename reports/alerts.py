"""Alert state and history for the report, from the ``alerts`` and ``alert_events`` tables.

Those tables belong to the alerting part of Onion; the report reads them when they
exist and names columns defensively (``state`` or ``status``, ``rule`` or ``name``), so
that a renamed column costs a column on the page, not the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from onion.core.i18n import _
from onion.core.sqltext import ident
from onion.reports.sql import Con, columns, dicts, pick, relations

FIRING = ("firing",)
EVENT_TIME = ("ts", "at", "time", "changed_at", "created_at", "started_at")
EVENT_LIMIT = 500
# Shown first, in this order, when the tables have them; other columns follow.
CURRENT_FIRST = ("rule", "host", "item", "severity", "state", "held", "value", "summary",
                 "firing_since", "pending_since", "resolved_at", "last_seen")
EVENTS_FIRST = ("ts", "rule", "host", "item", "event", "state", "severity", "value", "summary",
                "since", "duration_s")
HIDDEN = {"run_id", "last_run_id", "row", "true_polls", "changes", "evaluated_at", "notify",
          "labels"}
QUIET = ("inactive",)


def _shown(cols: list[str], order: tuple[str, ...] = CURRENT_FIRST) -> list[str]:
    first = [c for c in order if c in cols]
    return first + [c for c in cols if c not in first and c not in HIDDEN]


def _state_col(cols: list[str]) -> str | None:
    return pick(cols, "state", "status")


def firing_by_host(con: Con, rels: set[str] | None = None) -> dict[str, list[str]]:
    """Host -> names of its firing alerts."""
    rels = rels if rels is not None else relations(con)
    if "alerts" not in rels:
        return {}
    cols = columns(con, "alerts")
    state, rule = _state_col(cols), pick(cols, "rule", "name", "alertname", "alert")
    if not state or "host" not in cols:
        return {}
    label = f"CAST({ident(rule)} AS VARCHAR)" if rule else "NULL"
    out: dict[str, list[str]] = {}
    for host, name in con.execute(
            f"SELECT host, {label} FROM alerts WHERE lower(CAST({ident(state)} AS VARCHAR)) "
            f"IN ('firing') ORDER BY 2").fetchall():
        out.setdefault(host, []).append(_("alert") if name is None else name)
    return out


@dataclass(slots=True)
class AlertData:
    present: bool
    current_cols: list[str] = field(default_factory=list)
    firing: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    event_cols: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_more: int = 0
    state_col: str | None = None


def load(con: Con, start: dt.datetime, hosts: set[str] | None = None,
         host: str | None = None, rels: set[str] | None = None,
         limit: int | None = EVENT_LIMIT) -> AlertData:
    rels = relations(con) if rels is None else rels
    if "alerts" not in rels and "alert_events" not in rels:
        return AlertData(present=False)
    data = AlertData(present=True)

    def keep(r: dict[str, Any]) -> bool:
        h = r.get("host")
        return (host is None or h == host) and (hosts is None or h is None or h in hosts)

    if "alerts" in rels:
        cols = columns(con, "alerts")
        data.current_cols, data.state_col = _shown(cols), _state_col(cols)
        rows = [r for r in dicts(con, "SELECT * FROM alerts") if keep(r)]
        for r in rows:
            state = str(r.get(data.state_col) or "").lower() if data.state_col else ""
            if state in FIRING:
                data.firing.append(r)
            elif state not in QUIET:
                data.other.append(r)
    if "alert_events" in rels:
        cols = columns(con, "alert_events")
        data.event_cols = _shown(cols, EVENTS_FIRST)
        when = pick(cols, *EVENT_TIME)
        where = f" WHERE {ident(when)} >= $start" if when else ""
        order = f" ORDER BY {ident(when)} DESC" if when else ""
        params: dict[str, Any] = {"start": start} if when else {}
        if host is not None and "host" in cols:
            where += (" AND" if where else " WHERE") + " host = $host"
            params["host"] = host
        events = [r for r in dicts(con, f"SELECT * FROM alert_events{where}{order}", params)
                  if keep(r)]
        data.events = events[:limit]
        data.events_more = max(0, len(events) - limit) if limit is not None else 0
    return data


def for_host(data: AlertData, host: str) -> AlertData:
    """One host's part of the fleet's alert data (loaded with ``limit=None``)."""
    if not data.present:
        return data
    mine = [r for r in data.events if r.get("host") == host]
    return AlertData(True, data.current_cols,
                     [r for r in data.firing if r.get("host") == host],
                     [r for r in data.other if r.get("host") == host],
                     data.event_cols, mine[:EVENT_LIMIT], max(0, len(mine) - EVENT_LIMIT),
                     data.state_col)
