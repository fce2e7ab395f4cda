"""The long-lived process tier (``processes_top``) and the archive's lossless encodings."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb

from onion.probes.registry import installed
from onion.storage import archive
from onion.storage import duck as store
from onion.storage.schema import probe_table
from onion.storage.views import TOP_N, top_select

DAY = dt.datetime(2026, 3, 1)
KEEP_ALL = archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0, days_1d=0)
COLS = ("run_id", "host", "ts", "pid", "uid", "user", "comm", "rss_bytes", "elapsed_seconds",
        "cpu_seconds")


def at(minutes: int) -> dt.datetime:
    return DAY + dt.timedelta(minutes=minutes)


# host, minute, pid, uid, user, comm, rss, elapsed s, cpu s; polls every 20 minutes.
ROWS = [
    # A job that was running before the day's first poll: its first sample counts nothing.
    ("n1", 0, 10, 1000, "alice", "sim", 100, 99_000, 100.0),
    ("n1", 20, 10, 1000, "alice", "sim", 100, 100_200, 160.0),
    ("n1", 40, 10, 1000, "alice", "sim", 100, 101_400, 220.0),
    ("n1", 60, 10, 1000, "alice", "sim", 100, 102_600, 280.0),
    # Started 10 minutes before the 00:20 poll: all its CPU is in this hour.
    ("n1", 20, 11, 1000, "alice", "sim", 50, 600, 30.0),
    ("n1", 40, 11, 1000, "alice", "sim", 70, 1_800, 90.0),
    # pid 12 reused under the same name (counter went down): the new one counts whole.
    ("n1", 0, 12, 0, "root", "cron", 10, 50_000, 500.0),
    ("n1", 20, 12, 0, "root", "cron", 10, 100, 5.0),
    # pid 10 reused by another command at 01:00 (a new series, started since 00:40).
    ("n1", 60, 13, 1001, "bob", "sh", 5, 5, 0.25),
    # Another host: its polls are its own.
    ("n2", 5, 10, 1000, "alice", "sim", 1_000, 30, 7.5),
]


def make_db(tmp_path: Path, rows: list[tuple]) -> Path:
    db = tmp_path / "o.duckdb"
    con = store.connect(db)
    try:
        store.ensure_schema(con, {"processes": probe_table(installed()["processes"])})
        insert(con, rows)
    finally:
        con.close()
    return db


def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    for host, minute, pid, uid, user, comm, rss, elapsed, cpu in rows:
        con.execute(f"INSERT INTO hot.processes ({', '.join(COLS)}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [minute, host, at(minute), pid, uid, user, comm, rss, elapsed, cpu])


def top(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT host, ts, uid, \"user\", comm, processes, polls, cpu_seconds, "
                       "rss_bytes_max FROM processes_top ORDER BY ALL").fetchall()


WANT = [
    ("n1", at(0), 0, "root", "cron", 1, 2, 5.0, 10),
    ("n1", at(0), 1000, "alice", "sim", 2, 3, 60.0 + 60 + 30 + 60, 170),
    ("n1", at(60), 1000, "alice", "sim", 1, 1, 60.0, 100),
    ("n1", at(60), 1001, "bob", "sh", 1, 1, 0.25, 5),
    # n2's only poll: nothing before it to measure from, and the process is older.
    ("n2", at(0), 1000, "alice", "sim", 1, 1, 0.0, 1_000),
]


def test_top_consumers_per_hour_by_user_and_command(tmp_path):
    db = make_db(tmp_path, ROWS)
    con = duckdb.connect(str(db), read_only=True)
    assert top(con) == WANT  # from the hot rows, on the fly
    con.close()


def test_archived_hours_equal_the_hot_ones(tmp_path):
    db = make_db(tmp_path, ROWS)
    arch = tmp_path / "o.archive"
    report = archive.maintain(db, arch, KEEP_ALL, DAY + dt.timedelta(days=1, hours=1))
    assert ("processes", DAY.date().isoformat(), len(ROWS)) in report.archived
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM hot.processes").fetchone()[0] == 0
    assert top(con) == WANT  # now read from the day's top file
    con.close()


def test_keeps_the_top_n_by_cpu_and_the_top_n_by_rss(tmp_path):
    rows = []
    for i in range(3 * TOP_N):  # groups: cpu grows with i, rss shrinks with it
        for minute, cpu in ((0, 0.0), (30, float(i))):
            rows.append(("n1", minute, 100 + i, 2000 + i, f"u{i}", "job", 10_000 - i, 10_000,
                         cpu))
    db = make_db(tmp_path, rows)
    con = duckdb.connect(str(db), read_only=True)
    users = {r[0] for r in con.execute('SELECT "user" FROM processes_top').fetchall()}
    con.close()
    by_cpu = {f"u{i}" for i in range(3 * TOP_N - TOP_N, 3 * TOP_N)}
    by_rss = {f"u{i}" for i in range(TOP_N)}
    assert users == by_cpu | by_rss


def old_layout_file(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """A ``top`` file as an older Onion wrote it: each poll's top 10 rows, whole."""
    return con.execute(
        f"COPY (SELECT * FROM hot.processes QUALIFY row_number() OVER (PARTITION BY host, ts "
        f"ORDER BY cpu_pct DESC NULLS LAST) <= 10 OR row_number() OVER (PARTITION BY host, "
        f"ts ORDER BY rss_bytes DESC NULLS LAST) <= 10) TO '{path}' (FORMAT parquet)"
    ).fetchone()[0]


def test_an_older_top_file_is_rolled_up_once(tmp_path):
    db = make_db(tmp_path, ROWS)
    arch = tmp_path / "o.archive"
    folder = arch / "processes" / "top"
    folder.mkdir(parents=True)
    old = folder / f"{DAY.date()}-old.parquet"
    con = store.connect(db)
    n = old_layout_file(con, old)
    con.execute("INSERT INTO archive_files VALUES ('processes', 'top', ?, ?, ?, ?, ?)",
                [DAY.date(), "processes/top/" + old.name, n, old.stat().st_size, DAY])
    con.execute("DELETE FROM hot.processes")
    con.close()
    now = DAY + dt.timedelta(days=2)
    archive.maintain(db, arch, KEEP_ALL, now)
    assert not old.exists()
    con = duckdb.connect(str(db), read_only=True)
    assert top(con) == WANT  # every process fit in the old file's top 10
    events = con.execute("SELECT action, tier, detail FROM storage_events "
                         "ORDER BY rowid").fetchall()
    assert events == [("migrated", "top", archive.TOP_LAYOUT),
                      ("layout", "top", archive.TOP_LAYOUT)]
    (path,) = con.execute("SELECT path FROM archive_files WHERE tier = 'top'").fetchone()
    assert (arch / path).exists()
    con.close()
    archive.maintain(db, arch, KEEP_ALL, now + dt.timedelta(hours=1))  # once only
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM storage_events").fetchone()[0] == 2
    assert archive.check(db).ok
    con.close()


def test_floats_go_as_decimals_only_where_they_read_back_the_same(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (host VARCHAR, ts TIMESTAMP, load FLOAT, pct FLOAT, "
                "third DOUBLE, odd FLOAT, n DOUBLE, big DOUBLE)")
    rows = [("h", at(i), round(i * 0.37 % 9, 2), round(i * 3.3 % 100, 1), i / 3,
             math.nan if i == 5 else 1.5, None, 1e300) for i in range(200)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    scales, n = archive.decimal_scales(con, "SELECT * FROM t")
    assert n == 200
    assert scales == {"load": 2, "pct": 1, "n": 0}  # 1/3, NaN and 1e300 stay floats
    path = tmp_path / "t.parquet"
    assert archive.write_parquet(con, "SELECT * FROM t", "host, ts", path) == 200
    types = dict(con.execute(f"SELECT name, type FROM parquet_schema('{path}')").fetchall())
    assert types["load"] == "INT64" and types["third"] == "DOUBLE"
    # Read the way the views read it: the hot table's types win the union, bit for bit.
    got = con.execute(f"SELECT * FROM (SELECT * FROM t WHERE false UNION ALL BY NAME "
                      f"SELECT * FROM read_parquet('{path}')) ORDER BY ts").fetchall()
    want = con.execute("SELECT * FROM t ORDER BY ts").fetchall()
    assert [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r)
            for r in got] == [tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                                    for v in r) for r in want]
    assert not list(tmp_path.glob("*.tmp"))


def test_top_select_reads_any_source():
    # The archive rolls a day's hot rows and an old file's rows up with the same SELECT.
    sql = top_select("(SELECT * FROM somewhere)")
    assert sql.count("(SELECT * FROM somewhere)") == 2
