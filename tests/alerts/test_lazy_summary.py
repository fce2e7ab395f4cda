"""A row that neither fires nor belongs to a firing alert gets no summary (nothing reads
it); every event still carries the summary of the poll that made it, while firing too."""

from __future__ import annotations

import datetime as dt

import duckdb

from onion.alerts import engine, rules
from onion.alerts.state import FIRING, Policy

T0 = dt.datetime(2026, 3, 1, 12, 0)
RULE = rules.build({"name": "disk", "table": "fs", "items": ["mount"],
                    "condition": "used > 90", "clear": "used < 85", "value": "used",
                    "summary": "{{ mount }} at {{ used }} %"}, "test")
# Per poll: (mount, used) of host h1. / fills, stays full with a new value, recovers.
POLLS = [[("/", 50.0), ("/data", 10.0)], [("/", 95.0), ("/data", 11.0)],
         [("/", 97.5), ("/data", 12.0)], [("/", 40.0), ("/data", 13.0)]]


def _db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE fs (run_id UBIGINT, host VARCHAR, ts TIMESTAMP, "
                "mount VARCHAR, used DOUBLE)")
    con.execute("CREATE TABLE polls (run_id UBIGINT, host VARCHAR, ts TIMESTAMP)")
    for k, rows in enumerate(POLLS, 1):
        con.execute("INSERT INTO polls VALUES (?, 'h1', ?)", [k, T0 + dt.timedelta(minutes=5 * k)])
        for mount, used in rows:
            con.execute("INSERT INTO fs VALUES (?, 'h1', ?, ?, ?)",
                        [k, T0 + dt.timedelta(minutes=5 * k), mount, used])
    return con


def test_summaries_only_where_read() -> None:
    con = _db()
    states: dict = {}
    out = engine.evaluate_runs(con, [RULE], states, [1, 2, 3, 4], Policy(), {})
    told = [(e.event, e.item, e.summary) for e in out.events
            if e.event in ("firing", "resolved")]
    # The resolving poll's own summary, as the alert was firing when it came.
    assert told == [("firing", "/", "/ at 95.0 %"), ("resolved", "/", "/ at 40.0 %")]
    assert states[("disk", "h1", "/")].summary == "/ at 40.0 %"
    # Poll 3 seen afresh: / is firing (its summary made), /data neither (none made).
    found, _ = engine.observe(con, RULE, ["mount"], 3, ["h1"], firing={("h1", "/")})
    assert found[("h1", "/")].summary == "/ at 97.5 %"
    assert found[("h1", "/data")].summary == ""
    # Not firing any more, / at 40 % gets none either; without ``firing`` every row does.
    found, _ = engine.observe(con, RULE, ["mount"], 4, ["h1"], firing=set())
    assert found[("h1", "/")].summary == "" and not found[("h1", "/")].fired
    found, _ = engine.observe(con, RULE, ["mount"], 4, ["h1"])
    assert found[("h1", "/data")].summary == "/data at 13.0 %"
    assert states[("disk", "h1", "/")].state != FIRING
