"""Items that appear and vanish between a host's polls (kernel modules, mounts): the
report's query against the same diff done in Python, poll by poll."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import duckdb

from onion.reports import changes

T0 = dt.datetime(2026, 11, 1)


def _python(polls: dict[str, list[tuple[dt.datetime, set[str]]]], start: dt.datetime
            ) -> list[tuple[str, str, str, dt.datetime]]:
    out = []
    for host, seq in polls.items():
        seq = [(ts, items) for ts, items in seq if ts >= start and items]
        for (_, before), (ts, now) in itertools.pairwise(seq):
            out += [(host, i, "appeared", ts) for i in now - before]
            out += [(host, i, "vanished", ts) for i in before - now]
    return sorted(out, key=lambda r: (-r[3].timestamp(), r[0], r[1]))


def test_appeared_and_vanished_match_a_poll_by_poll_diff() -> None:
    rng = random.Random(7)
    con = duckdb.connect()
    con.execute("CREATE TABLE modules (host VARCHAR, ts TIMESTAMP, name VARCHAR)")
    polls: dict[str, list[tuple[dt.datetime, set[str]]]] = {}
    rows = []
    for h in range(6):
        host, items = f"node{h}", {f"m{i}" for i in range(20)}
        polls[host] = []
        for k in range(300):
            ts = T0 + dt.timedelta(minutes=5 * k + h)
            if rng.random() < 0.03:
                items = items ^ {f"m{rng.randrange(30)}"}        # one comes or goes
            if rng.random() < 0.01:
                items = items - {f"m{rng.randrange(20)}"} | {"new"}  # one swapped
            shown = set() if rng.random() < 0.02 else set(items)   # a poll without any
            polls[host].append((ts, shown))
            rows += [(host, ts, i) for i in shown]
            if shown and rng.random() < 0.01:
                rows.append((host, ts, next(iter(shown))))   # listed twice in one poll
    con.execute("INSERT INTO modules SELECT unnest($1), unnest($2), unnest($3)",
                [list(c) for c in zip(*rows, strict=True)])
    start = T0 + dt.timedelta(hours=3)
    got = [(r["host"], r["item"], r["change"], r["ts"])
           for r in changes.set_changes(con, "modules", "name", start)]
    want = _python(polls, start)
    assert got == want and len(want) > 20
    one = [(r["host"], r["item"], r["change"], r["ts"])
           for r in changes.set_changes(con, "modules", "name", start, host="node3")]
    assert one == [r for r in want if r[0] == "node3"] and one
