"""The alert tables in DuckDB, and moving :class:`AlertState` in and out of them.

See :mod:`poller.alerts` for what each column holds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping

import duckdb

from onion.alerts.rules import Rule
from onion.alerts.state import AlertState, Event
from onion.storage import catalog
from onion.storage import duck as store

ALERT_COLUMNS = [
    ("rule", "VARCHAR"), ("host", "VARCHAR"), ("item", "VARCHAR"), ("state", "VARCHAR"),
    ("held", "BOOLEAN"), ("severity", "VARCHAR"), ("value", "VARCHAR"), ("summary", "VARCHAR"),
    ("labels", "VARCHAR"), ("pending_since", "TIMESTAMP"), ("firing_since", "TIMESTAMP"),
    ("resolved_at", "TIMESTAMP"), ("last_seen", "TIMESTAMP"), ("last_run_id", "UBIGINT"),
    ("true_polls", "INTEGER"), ("last_notified", "TIMESTAMP"), ("notifications", "INTEGER"),
    ("changes", "TIMESTAMP[]"),
]
EVENT_COLUMNS = [
    ("ts", "TIMESTAMP"), ("run_id", "UBIGINT"), ("evaluated_at", "TIMESTAMP"),
    ("rule", "VARCHAR"), ("host", "VARCHAR"), ("item", "VARCHAR"), ("event", "VARCHAR"),
    ("state", "VARCHAR"), ("severity", "VARCHAR"), ("value", "VARCHAR"), ("summary", "VARCHAR"),
    ("labels", "VARCHAR"), ("notify", "BOOLEAN"), ("since", "TIMESTAMP"),
    ("duration_s", "DOUBLE"),
]
OUTBOX_COLUMNS = [
    ("id", "UBIGINT PRIMARY KEY"), ("created_at", "TIMESTAMP"), ("notifier", "VARCHAR"),
    ("subject", "VARCHAR"), ("text", "VARCHAR"), ("short", "VARCHAR"), ("html", "VARCHAR"),
    ("payload", "VARCHAR"), ("alerts", "INTEGER"), ("status", "VARCHAR"),
    ("attempts", "INTEGER"), ("last_attempt", "TIMESTAMP"), ("last_error", "VARCHAR"),
    ("sent_at", "TIMESTAMP"),
    # A run that is sending it (with the poll lock released): others leave it alone until
    # then; a run killed mid-send leaves the claim to expire, and the message is sent again.
    ("claimed_until", "TIMESTAMP"),
]
RUN_COLUMNS = [
    ("run_id", "UBIGINT PRIMARY KEY"), ("evaluated_at", "TIMESTAMP"), ("rules", "INTEGER"),
    ("events", "INTEGER"), ("notified", "INTEGER"), ("errors", "VARCHAR"),
]
TABLES = {"alerts": ALERT_COLUMNS, "alert_events": EVENT_COLUMNS,
          "alert_outbox": OUTBOX_COLUMNS, "alert_runs": RUN_COLUMNS}


# What fires now (and pending, and held as flapping), the worst first: `onion alerts` and
# the daemon's /api/alerts show the same.
CURRENT_SQL = (
    "SELECT rule, severity, host, item, state, held, value, summary, "
    "coalesce(firing_since, pending_since) AS since FROM alerts "
    "WHERE state IN ('firing', 'pending') OR held "
    "ORDER BY state = 'pending', CASE severity WHEN 'critical' THEN 0 "
    "WHEN 'warning' THEN 1 ELSE 2 END, rule, host, item")


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    # One catalog query for all four tables: this runs after every round, and almost
    # always finds every table and column there.
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND database_name = current_database() AND list_contains($t, table_name)",
            {"t": list(TABLES)}).fetchall():
        have.setdefault(table, set()).add(column)
    for table, columns in TABLES.items():
        if table not in have:
            cols = ", ".join(f'"{n}" {t}' for n, t in columns)
            extra = ", PRIMARY KEY (rule, host, item)" if table == "alerts" else ""
            con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({cols}{extra})')
            continue
        for name, kind in columns:
            if name not in have[table]:  # a column a later Onion added: old rows read NULL
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}')


def exists(con: duckdb.DuckDBPyConnection, table: str = "alerts") -> bool:
    return catalog.has_table(con, table)


_STATE_FIELDS = [n for n, _ in ALERT_COLUMNS if n != "labels"]


def load_states(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], AlertState]:
    names = ", ".join(f'"{n}"' for n in _STATE_FIELDS)
    out = {}
    for row in con.execute(f"SELECT {names} FROM alerts").fetchall():
        st = AlertState(**dict(zip(_STATE_FIELDS, row, strict=True)))
        st.changes = list(st.changes or [])
        out[st.key] = st
    return out


def save_states(con: duckdb.DuckDBPyConnection, states: Iterable[AlertState],
                rules: Mapping[str, Rule]) -> None:
    """Replace the table with these states (the idle ones are dropped)."""
    con.execute("DELETE FROM alerts")
    rows = []
    for st in states:
        if st.idle:
            continue
        rule = rules.get(st.rule)
        labels = json.dumps(dict(rule.labels)) if rule else "{}"
        values = {n: getattr(st, n) for n in _STATE_FIELDS}
        rows.append([*(values[n] for n in _STATE_FIELDS[:8]), labels,
                     *(values[n] for n in _STATE_FIELDS[8:])])
    store.insert_rows(con, "alerts", ALERT_COLUMNS, rows)


def add_events(con: duckdb.DuckDBPyConnection, events: Iterable[Event],
               evaluated_at: dt.datetime) -> None:
    rows = [[e.ts, e.run_id, evaluated_at, e.rule, e.host, e.item, e.event, e.state,
             e.severity, e.value, e.summary, json.dumps(e.labels), e.notify, e.since,
             e.duration.total_seconds() if e.duration is not None else None] for e in events]
    store.insert_rows(con, "alert_events", EVENT_COLUMNS, rows)
