"""Archiving, rollups, retention and the size budget keep every row exactly once."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from onion.core import units
from onion.core.errors import ConfigError
from onion.storage import archive
from tests.synthetic import history

START = dt.datetime(2026, 1, 1)


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {
        "network": con.execute("SELECT count(*), sum(rx_bytes) FROM network").fetchone(),
        "cpu": con.execute("SELECT count(*), round(sum(user_seconds), 3) FROM cpu").fetchone(),
        "processes": con.execute("SELECT count(*), sum(pid) FROM processes").fetchone(),
        "polls": con.execute("SELECT count(*) FROM polls").fetchone(),
    }


def test_archive_moves_rows_without_loss_or_duplicates(tmp_path):
    db, arch = tmp_path / "o.duckdb", tmp_path / "o.archive"
    history(db, tmp_path / "spool", START, days=5)
    con = duckdb.connect(str(db))
    before = totals(con)
    con.close()
    keep_all = archive.Retention(hot_days=2, raw_days=0, days_5m=0, days_1h=0)
    report = archive.maintain(db, arch, keep_all, START + dt.timedelta(days=5, hours=1),
                              force_rewrite=True)
    assert {d for _, d, _ in report.archived} == {"2026-01-01", "2026-01-02", "2026-01-03",
                                                   "2026-01-04"}
    assert report.rewritten
    con = duckdb.connect(str(db), read_only=True)
    assert totals(con) == before
    hot_days = con.execute("SELECT DISTINCT ts::DATE FROM hot.network").fetchall()
    assert [d[0].isoformat() for d in hot_days] == ["2026-01-05"]
    # Archiving again finds nothing new and changes nothing.
    con.close()
    archive.maintain(db, arch, keep_all, START + dt.timedelta(days=5, hours=2))
    con = duckdb.connect(str(db), read_only=True)
    assert totals(con) == before


def test_on_the_runs_open_connection_the_rewrite_waits_for_finish(tmp_path):
    db, arch = tmp_path / "o.duckdb", tmp_path / "o.archive"
    history(db, tmp_path / "spool", START, days=3)
    con = duckdb.connect(str(db))
    before = totals(con)
    keep_all = archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0)
    report = archive.maintain(db, arch, keep_all, START + dt.timedelta(days=3, hours=1),
                              force_rewrite=True, con=con)
    assert report.archived and report.rewrite_due and not report.rewritten
    assert totals(con) == before          # the caller's connection still works
    con.close()
    archive.finish(report, db, arch)
    assert report.rewritten and report.size_after > 0
    con = duckdb.connect(str(db), read_only=True)
    assert totals(con) == before
    con.close()


def test_rollups_equal_raw_aggregates(tmp_path):
    db, arch = tmp_path / "o.duckdb", tmp_path / "o.archive"
    history(db, tmp_path / "spool", START, days=3, every=dt.timedelta(minutes=20))
    archive.maintain(db, arch, archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0),
                     START + dt.timedelta(days=3))
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM hot.network").fetchone()[0] == 0
    got = con.execute("""
        SELECT host, interface, ts, samples, rx_bytes, tx_bytes FROM network_1h
        ORDER BY ALL""").fetchall()
    want = con.execute("""
        SELECT host, interface, time_bucket(INTERVAL 1 HOUR, ts) AS h, count(*),
               arg_max(rx_bytes, ts), arg_max(tx_bytes, ts)
        FROM network GROUP BY ALL ORDER BY ALL""").fetchall()
    assert got == want and len(got) == 3 * 24 * 3 * len({r[1] for r in got})
    g = con.execute("SELECT load_1m_min, load_1m_avg, load_1m_max, samples FROM cpu_1d "
                    "WHERE host = 'node00' ORDER BY ts").fetchall()
    w = con.execute("SELECT min(load_1m), avg(load_1m), max(load_1m), count(*) FROM cpu "
                    "WHERE host = 'node00' GROUP BY ts::DATE ORDER BY ts::DATE").fetchall()
    assert [(a, pytest.approx(b), c, d) for a, b, c, d in g] == w
    top = con.execute("SELECT count(*) FROM processes_top GROUP BY host, ts").fetchall()
    assert max(n for (n,) in top) <= 20


def test_retention_drops_whole_days_and_keeps_rollups(tmp_path):
    db, arch = tmp_path / "o.duckdb", tmp_path / "o.archive"
    history(db, tmp_path / "spool", START, days=10)
    now = START + dt.timedelta(days=10)
    archive.maintain(db, arch, archive.Retention(hot_days=1, raw_days=3, days_5m=5, days_1h=0),
                     now)
    con = duckdb.connect(str(db), read_only=True)
    raw_days = {r[0] for r in con.execute("SELECT DISTINCT ts::DATE FROM network").fetchall()}
    assert min(raw_days) == (now - dt.timedelta(days=3)).date()
    assert con.execute("SELECT min(ts)::DATE FROM network_1h").fetchone()[0] == START.date()
    assert con.execute("SELECT count(*) FROM storage_events WHERE action = 'retention'"
                       ).fetchone()[0] > 0


def test_budget_holds_over_a_long_run(tmp_path):
    db, arch, spool = tmp_path / "o.duckdb", tmp_path / "o.archive", tmp_path / "spool"
    budget = 6 << 20
    retention = archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0, max_size=budget)
    t = START
    thinned = []
    for day in range(25):
        history(db, spool, t, days=1, seed=day)
        t += dt.timedelta(days=1)
        report = archive.maintain(db, arch, retention, t, spool=spool)
        thinned += report.thinned
        assert archive.footprint(db, arch, spool) <= budget, day
    assert thinned, "the budget never had to thin anything: make the test data larger"
    con = duckdb.connect(str(db), read_only=True)
    # What was dropped first is raw data; the rollups still cover the whole period.
    tiers = [t for (t,) in con.execute("SELECT tier FROM storage_events WHERE action = 'budget' "
                                       "ORDER BY rowid").fetchall()]
    assert tiers[0] in ("raw", "top")
    assert "1d" not in tiers
    assert con.execute("SELECT min(ts)::DATE FROM network_1d").fetchone()[0] == START.date()


def test_export_parquet_partitions_by_date_and_host(tmp_path):
    db = tmp_path / "o.duckdb"
    history(db, tmp_path / "spool", START, days=2, hosts=2)
    out = tmp_path / "export"
    archive.export_parquet(db, out)
    parts = sorted(p.relative_to(out / "network").parts[:2]
                   for p in (out / "network").rglob("*.parquet"))
    assert ("date=2026-01-01", "host=node00") in parts and len({p[1] for p in parts}) == 2
    n = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{out}/network/**/*.parquet')").fetchone()
    con = duckdb.connect(str(db), read_only=True)
    assert n[0] == con.execute("SELECT count(*) FROM network").fetchone()[0]


def test_parse_size():
    assert units.parse_size("2GB") == 2_000_000_000
    assert units.parse_size("500 MiB") == 500 << 20
    assert units.parse_budget("", "x") is None
    assert units.parse_budget("0", "x") is None
    for bad in ("lots", "1", "-5GB"):  # "1" would be one byte: a unit is required
        with pytest.raises(ConfigError):
            units.parse_size(bad)
