"""Central stores: rows per second through Onion's sinks against the bare driver.

    python3 bench/sinks.py [--hosts 200] [--rounds 3]

A synthetic fleet (``storage_fleet``: processes, CPU, memory, disks, GPUs …) makes one
batch per round as ``onion poll`` does (``poller.run.make_batch``). Each batch then goes

- through the PostgreSQL sink (``storage/postgres.py``: ledger, partitions, COPY), against
  a bare psycopg COPY of the same rows into plain tables of the same column types, on a
  real PostgreSQL server started in a temp folder (Debian's package; goal: >= 0.7x);
- through the MySQL/MariaDB sink against a bare PyMySQL ``executemany`` of the same rows,
  when MariaDB is installed (info);
- through the ClickHouse sink on ClickHouse inside the process (chDB; info);
- into a central: the wire format decoded and stored in DuckDB, as ``POST
  /api/v1/batches`` does (info: the central's ingest rate for the scale-out plan).

Medians of ``--rounds`` batches after one warm-up; everything on loopback, in a temporary
folder removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import storage_fleet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.pgserver, tests.mysqld

from onion.poller.run import make_batch
from onion.probes.registry import installed
from onion.storage import wire
from onion.storage.archive import Retention
from onion.storage.batch import Batch
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.postgres import PG_TYPES, PostgresSink
from onion.storage.schema import CORE, TableSpec

GOAL_PG = 0.7


def batches(hosts: int, n: int) -> list[Batch]:
    probes = list(installed().values())
    start = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp())
    fleet = storage_fleet.Fleet(hosts, start)
    out = []
    for k in range(n):
        ts = start + 300 * k
        results = list(fleet.round(ts))
        began = dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)
        run_row = {"run_id": ts * 1_000_000, "started_at": began, "finished_at": began,
                   "wall_s": 1.0, "hosts": hosts, "hosts_ok": hosts, "cpu_user_s": 0.5,
                   "cpu_system_s": 0.1, "peak_rss_bytes": 1, "version": "bench",
                   "argv": "bench/sinks.py"}
        out.append(make_batch(ts * 1_000_000, results, probes, run_row))
    return out


def rows_of(b: Batch) -> int:
    return sum(b.row_count(t) for t in b.data)


def timed(work: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def race(items: list[Batch], onion: Callable[[Batch], Any], bare: Callable[[Batch], Any]
         ) -> tuple[float, float]:
    """Median rows/s of each over the batches, turn about, after the first (the warm-up:
    tables, partitions)."""
    onion_s, bare_s = [], []
    for k, b in enumerate(items):
        o, r = timed(lambda b=b: onion(b)), timed(lambda b=b: bare(b))
        if k:
            onion_s.append(rows_of(b) / o)
            bare_s.append(rows_of(b) / r)
    return statistics.median(onion_s), statistics.median(bare_s)


# -- PostgreSQL ---------------------------------------------------------------------------

def pg_bare(con: Any, schema: str, b: Batch) -> None:
    """What a hand-written loader does: COPY each table's rows, one transaction."""
    from psycopg import sql

    with con.transaction():
        for table, spec in {**CORE, **b.tables}.items():
            data = b.data.get(table)
            if not data or not b.row_count(table):
                continue
            names = [c for c in spec.names if c in data]
            with con.cursor() as cur, cur.copy(sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                    sql.Identifier(schema), sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, names)))) as copy:
                for r in zip(*(data[n] for n in names), strict=True):
                    copy.write_row(r)


def pg_part(items: list[Batch]) -> list[list[str]]:
    from tests import pgserver

    if pgserver.bin_dir() is None:
        return [["PostgreSQL sink rows/s", "-", "-", "-", f">= {GOAL_PG}x",
                 "MISS (PostgreSQL not installed)"]]
    import psycopg
    from psycopg import sql

    server = pgserver.start()
    try:
        con = psycopg.connect(server.dsn(), password=server.password)
        con.execute("CREATE SCHEMA bare")
        for spec in {**CORE, **items[0].tables}.values():
            cols = sql.SQL(", ").join(sql.SQL("{} {}").format(
                sql.Identifier(c.name), sql.SQL(PG_TYPES[c.type])) for c in spec.columns)
            con.execute(sql.SQL("CREATE TABLE bare.{} ({})").format(
                sql.Identifier(spec.name), cols))
        con.commit()
        sink = PostgresSink("pg", server.dsn(), server.password, "onion")
        o, r = race(items, sink.write, lambda b: pg_bare(con, "bare", b))
        sink.close()
        con.close()
    finally:
        server.stop()
    return [["PostgreSQL sink rows/s", f"{o:,.0f}", f"{r:,.0f} (psycopg COPY)",
             f"{o / r:.2f}x", f">= {GOAL_PG}x", "PASS" if o / r >= GOAL_PG else "MISS"]]


# -- MySQL / MariaDB ------------------------------------------------------------------------

def my_bare(con: Any, b: Batch) -> None:
    """A hand-written loader: executemany (PyMySQL's multi-row INSERT), one transaction."""
    from onion.storage.mysql import to_mysql

    with con.cursor() as cur:
        for table, spec in {**CORE, **b.tables}.items():
            data = b.data.get(table)
            if not data or not b.row_count(table):
                continue
            names = [c for c in spec.names if c in data]
            types = [spec.column(n).type for n in names]
            rows = [[to_mysql(t, v) for t, v in zip(types, r, strict=True)]
                    for r in zip(*(data[n] for n in names), strict=True)]
            cols = ", ".join(f"`{n}`" for n in names)
            marks = ", ".join(["%s"] * len(names))
            for i in range(0, len(rows), 1000):
                cur.executemany(f"INSERT INTO `bare_{table}` ({cols}) VALUES ({marks})",
                                rows[i:i + 1000])
    con.commit()


def mysql_part(items: list[Batch], tmp: Path) -> list[list[str]]:
    from tests import mysqld

    missing = mysqld.missing()
    if missing:
        return [["MySQL/MariaDB sink rows/s", "-", "-", "-", "(info)", f"skipped: {missing}"]]
    from onion.storage.mysql import MySQLSink, create_table
    from onion.storage.sink import SinkContext

    server = mysqld.start(tls=False)
    try:
        (tmp / "my.password").write_text(server.password + "\n")
        sink = MySQLSink.from_config("my", {"dsn": server.dsn(), "password_file":
                                            str(tmp / "my.password")},
                                     SinkContext(tmp / "o.duckdb", tmp))
        con = server.admin(server.database)
        with con.cursor() as cur:
            for spec in {**CORE, **items[0].tables}.values():
                # Without the upsert key: a loader of plain rows (as psycopg's above).
                cur.execute(create_table(f"bare_{spec.name}",
                                         TableSpec(spec.name, spec.columns)))
        o, r = race(items, sink.write, lambda b: my_bare(con, b))
        sink.close()
        con.close()
    finally:
        server.stop()
    return [["MySQL/MariaDB sink rows/s", f"{o:,.0f}", f"{r:,.0f} (PyMySQL executemany)",
             f"{o / r:.2f}x", "(info)", "-"]]


def clickhouse_part(items: list[Batch], tmp: Path) -> list[list[str]]:
    try:
        import chdb  # noqa: F401
    except ImportError:
        return [["ClickHouse (chDB) sink rows/s", "-", "-", "-", "(info)",
                 "skipped: chdb not installed"]]
    from onion.storage.clickhouse import ClickHouseSink

    sink = ClickHouseSink("ch", f"chdb://{tmp / 'ch'}")
    speeds = []
    for k, b in enumerate(items):
        t = timed(lambda b=b: sink.write(b))
        if k:
            speeds.append(rows_of(b) / t)
    sink.close()
    return [["ClickHouse (chDB) sink rows/s", f"{statistics.median(speeds):,.0f}", "-", "-",
             "(info)", "in-process; a server's rate is not measured here"]]


# -- a central's ingest -------------------------------------------------------------------

def central_part(items: list[Batch], tmp: Path) -> list[list[str]]:
    sink = DuckDBSink("duckdb", tmp / "central.duckdb", tmp / "archive", Retention())
    encode_s, ingest_s, sizes = [], [], []
    for k, b in enumerate(items):
        t0 = time.perf_counter()
        body = wire.encode(b)
        t1 = time.perf_counter()
        got, _ = wire.decode(body, 1 << 30)
        got.origin, got.origin_run_id = "bench", got.run_id
        sink.ensure_schema(got.tables)
        sink.write(got)
        t2 = time.perf_counter()
        if k:
            encode_s.append(rows_of(b) / (t1 - t0))
            ingest_s.append(rows_of(b) / (t2 - t1))
            sizes.append(len(body) / rows_of(b))
    sink.close()
    return [["poller: encode rows/s", f"{statistics.median(encode_s):,.0f}", "-", "-",
             "(info)", f"{statistics.median(sizes):.1f} B/row on the wire"],
            ["central: decode + DuckDB rows/s", f"{statistics.median(ingest_s):,.0f}", "-",
             "-", "(info)", "-"]]


def table(rows: list[list[str]]) -> str:
    head = ["metric", "onion", "bare driver", "ratio", "goal", "result"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)),
             "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=200, help="hosts per batch (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="measured batches (default 3)")
    args = ap.parse_args(argv)
    if not 1 <= args.hosts <= 5000 or not 1 <= args.rounds <= 50:
        ap.error("--hosts 1..5000, --rounds 1..50")
    items = batches(args.hosts, args.rounds + 1)
    per = statistics.median(rows_of(b) for b in items)
    print(f"{len(items)} batches of {args.hosts} hosts, {per:,.0f} rows each", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="onion-bench-sinks-") as tmp:
        rows = [*pg_part(items), *mysql_part(items, Path(tmp)),
                *clickhouse_part(items, Path(tmp)), *central_part(items, Path(tmp))]
    print(f"\nsinks benchmark: {args.hosts} hosts per batch, {per:,.0f} rows; medians of "
          f"{args.rounds} after a warm-up; loopback servers share this machine's CPUs\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
