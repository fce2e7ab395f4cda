"""The ``file_changed`` rule's query, which reads one poll and the rows just before it,
says of every poll what the window function over all history (kept here, as it was)
says: on a long, irregular history, part of it archived to Parquet."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb

from onion.alerts import engine, rules
from onion.probes import registry
from onion.probes.files import FILE_CHANGES_OF_RUN, file_changes_sql
from onion.storage import archive, schema
from onion.storage import duck as store

# The rule's source before it read one poll: lag() over every row since $since (the
# files view's SQL, bounded).
OLD_SOURCE = file_changes_sql("WHERE ts >= $since")

COLUMNS = ("run_id", "host", "path", "ts", "exists", "sha256", "size_bytes", "mtime",
           "mode", "uid", "gid")
PATHS = ("/etc/passwd", "/etc/hosts", "/etc/sudoers", "/root/.ssh/authorized_keys")
START = dt.datetime(2024, 3, 1, 0, 3)
HOUR = dt.timedelta(hours=1)
AWAY = (START + 30 * HOUR, START + 34 * HOUR)     # host b not polled
GONE = (START + 10 * HOUR, START + 82 * HOUR)     # c's last path not watched


def _history(rng: random.Random) -> list[dict[str, Any]]:
    """Four days of polls 10 to 60 minutes apart; each host skips some (one for hours, so
    its previous row is older than the hour before), watches a varying set of paths (one
    gone for three days: its earlier row is beyond the two-day lookback), and its files
    change in every way the rule tells apart."""
    rows: list[dict[str, Any]] = []
    state = {(h, p): {"exists": True, "sha256": f"s{h}{p}", "size_bytes": 10, "mode": "0644",
                      "uid": 0, "gid": 0, "mtime": START}
             for h in ("a", "b", "c") for p in PATHS}
    t = START
    while t < START + dt.timedelta(days=4):
        run_id = int(t.timestamp() * 1_000_000)
        for i, host in enumerate(("a", "b", "c")):
            away = host == "b" and AWAY[0] <= t < AWAY[1]
            if away or rng.random() < 0.1:
                continue
            ts = t + dt.timedelta(seconds=7 * i, microseconds=rng.randrange(1000))
            for path in PATHS:
                gone = path == PATHS[3] and host == "c" and GONE[0] <= t < GONE[1]
                if gone or rng.random() < 0.05:
                    continue
                s = state[(host, path)]
                change = rng.random()
                if change < 0.04:
                    s["exists"] = not s["exists"] if s["exists"] is not None else True
                elif change < 0.06:
                    s["exists"] = None                          # stat failed: unknown
                elif change < 0.12:
                    s["sha256"] = rng.choice([f"s{rng.random()}", None])
                elif change < 0.16:
                    s["size_bytes"] = rng.choice([(s["size_bytes"] or 0) + 1, None])
                elif change < 0.20:
                    s["mode"] = rng.choice(["0600", "0644", "4755"])
                elif change < 0.23:
                    s[rng.choice(["uid", "gid"])] = rng.choice([0, 1000])
                elif change < 0.35:
                    s["mtime"] = ts
                rows.append({"run_id": run_id, "host": host, "path": path, "ts": ts, **s})
        t += dt.timedelta(minutes=rng.choice([10, 20, 30, 60]))
    return rows


def _store(db: Path, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    con = duckdb.connect(str(db))
    try:
        store.ensure_schema(con, schema.tables_for(registry.installed().values()))
        cols = ", ".join(COLUMNS)
        con.execute(f"INSERT INTO hot.files ({cols}) SELECT "
                    + ", ".join(f"unnest(${i + 1})" for i in range(len(COLUMNS))),
                    [[r[c] for r in rows] for c in COLUMNS])
    finally:
        con.close()
    # Every closed day to Parquet, as maintenance after each poll does by default.
    archive.maintain(db, db.with_name(db.name + ".archive"),
                     archive.Retention(raw_days=0, days_5m=0, days_1h=0, days_1d=0), now)


def test_each_poll_compares_with_its_latest_earlier_row_as_before(tmp_path: Path) -> None:
    rng = random.Random(17)
    rows = _history(rng)
    db = tmp_path / "onion.duckdb"
    _store(db, rows, max(r["ts"] for r in rows))
    # A late batch: a poll of an archived day, stored in hot after the days beyond it.
    late = rows[len(rows) // 3]
    late = {**late, "run_id": 1, "ts": late["ts"] + dt.timedelta(microseconds=1),
            "sha256": "late"}
    con = duckdb.connect(str(db))
    try:
        con.execute(f"INSERT INTO hot.files ({', '.join(COLUMNS)}) VALUES "
                    f"({', '.join('?' for _ in COLUMNS)})", [late[c] for c in COLUMNS])
        assert con.execute("SELECT count(*) FROM archive_files WHERE table_name = 'files' "
                           "AND tier = 'raw'").fetchone()[0] >= 3   # type: ignore[index]
        runs = con.execute("SELECT run_id, min(ts) FROM files GROUP BY run_id "
                           "ORDER BY run_id").fetchall()
        # A third of them (each costs two queries), and the polls just after the late one,
        # b's absence and c's path's.
        runs = [r for i, r in enumerate(runs) if i % 3 == 0 or any(
            t <= r[1] < t + 2 * HOUR for t in (late["ts"], AWAY[1], GONE[1]))]
        told: dict[str, int] = {}
        far = 0
        for run_id, first_ts in runs:
            params = {"run_id": run_id, "since": first_ts - engine.LOOKBACK}
            got, want = ([tuple(r) for r in con.execute(
                f"SELECT * FROM ({sql}) WHERE run_id = $run_id", params).fetchall()]
                for sql in (FILE_CHANGES_OF_RUN, OLD_SOURCE))
            assert sorted(got, key=repr) == sorted(want, key=repr), run_id
            for r in got:
                told[r[5]] = told.get(r[5], 0) + 1
                far += r[3] - r[4] > dt.timedelta(hours=1)
    finally:
        con.close()
    # The history holds every kind of change, and polls whose previous row of a path is
    # more than an hour back (host b away, c's fourth path gone past the lookback).
    assert set(told) == {"created", "deleted", "content", "owner_or_mode", "touched"}
    assert far > 0


def test_the_rule_reads_the_new_query_through_the_engine(tmp_path: Path) -> None:
    rule = {r.name: r for r in rules.load(SimpleNamespace(disable=[], rules=[]))}[
        "file_changed"]
    assert rule.source == FILE_CHANGES_OF_RUN
    rows = [{"run_id": n, "host": "a", "path": "/etc/passwd", "ts": START + dt.timedelta(
        minutes=n), "exists": True, "sha256": sha, "size_bytes": 1, "mtime": START,
        "mode": "0644", "uid": 0, "gid": 0} for n, sha in ((1, "x"), (2, "x"), (90, "y"))]
    db = tmp_path / "onion.duckdb"
    _store(db, rows, START + dt.timedelta(hours=2))
    con = duckdb.connect(str(db))
    try:
        found, _ = engine.observe(con, rule, ["path"], 90, ["a"], START)
        assert [(k, o.fired, o.value) for k, o in found.items()] == [
            (("a", "/etc/passwd"), True, "content")]
        found, _ = engine.observe(con, rule, ["path"], 2, ["a"], START)
        assert found == {}                                   # unchanged: no row
    finally:
        con.close()
