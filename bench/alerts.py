"""Benchmark the alert rule that reads history: ``file_changed`` on a long history.

    python3 bench/alerts.py [--hosts 50] [--days 2] [--paths 5] [--interval 1]
                            [--repeat 10] [--keep]

Builds a database of ``--days`` of polls every ``--interval`` minutes of ``--hosts`` hosts
watching ``--paths`` files each (2 days x 50 hosts x 5 paths at one a minute: 720,000
``files`` rows), archives its closed days to Parquet as maintenance does, then times the
rule as a poll pays for it (``engine.observe`` of the newest poll, ``$since`` two days
back) with the query it had before (``lag()`` over every row since ``$since``, kept here)
and with the built-in one now. Prints CPU (all DuckDB threads) and wall, min / median /
max of ``--repeat``, and whether both found the same rows on a few polls with changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from onion.alerts import engine, rules  # noqa: E402
from onion.alerts.builtin import BUILTIN  # noqa: E402
from onion.probes import registry  # noqa: E402
from onion.probes.files import file_changes_sql  # noqa: E402
from onion.storage import archive, schema  # noqa: E402
from onion.storage import duck as store  # noqa: E402

# The rule's source before issue #17: a window over every row since $since (the
# files view's SQL, bounded).
OLD_SOURCE = file_changes_sql("WHERE ts >= $since")


def build(db: Path, hosts: int, days: float, paths: int, interval: int) -> None:
    """The history, made in SQL: each host's files change now and then (content, mode,
    mtime), at its own pace."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    t0 = now - dt.timedelta(days=days)
    polls = int(days * 1440 / interval)
    con = duckdb.connect(str(db))
    try:
        store.ensure_schema(con, schema.tables_for(registry.installed().values()))
        con.execute(f"""
INSERT INTO hot.files (run_id, host, ts, path, exists, type, size_bytes, mtime, mode, uid,
                       user_name, gid, group_name, sha256)
SELECT epoch_us(t)::UBIGINT, 'host' || lpad(h::VARCHAR, 4, '0'),
  t + to_milliseconds(h * 7 + p), '/etc/file' || p, true, 'file',
  100 + (m // 500 + h)::UBIGINT, TIMESTAMP '2024-01-01' + to_seconds((m // 300)::BIGINT),
  CASE WHEN (m // (700 + h)) % 2 = 0 THEN '0644' ELSE '0600' END, 0, 'root', 0, 'root',
  sha256(('x' || h || '/' || p || '/' || (m // (400 + h * 13 + p * 7)))::VARCHAR)
FROM (SELECT m, TIMESTAMP '{t0}' + to_minutes(m * {interval}) AS t FROM range({polls}) r(m)),
     range({hosts}) hh(h), range({paths}) pp(p)""")
    finally:
        con.close()
    archive.maintain(db, db.with_name(db.name + ".archive"),
                     archive.Retention(raw_days=0, days_5m=0, days_1h=0, days_1d=0), now)


def _rule(source: str) -> rules.Rule:
    return rules.build({**BUILTIN["file_changed"], "source": source}, "bench", builtin=True)


def timed(con: duckdb.DuckDBPyConnection, rule: rules.Rule, run_id: int, since: dt.datetime,
          hosts: list[str], repeat: int) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        engine.observe(con, rule, ["path"], run_id, hosts, since)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return cpu, wall


def _ms(xs: list[float]) -> str:
    return (f"{min(xs) * 1000:6.0f} / {statistics.median(xs) * 1000:6.0f} / "
            f"{max(xs) * 1000:6.0f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--paths", type=int, default=5, help="watched files per host")
    ap.add_argument("--interval", type=int, default=1, help="minutes between polls")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="onion-bench-alerts-"))
    try:
        db = tmp / "onion.duckdb"
        t0 = time.perf_counter()
        build(db, args.hosts, args.days, args.paths, args.interval)
        con = duckdb.connect(str(db), read_only=True)
        n = con.execute("SELECT count(*) FROM files").fetchone()[0]  # type: ignore[index]
        print(f"history: {n:,} files rows ({args.hosts} hosts x {args.paths} paths x "
              f"{args.days:g} days, a poll every {args.interval} min), built in "
              f"{time.perf_counter() - t0:.0f} s")
        runs = con.execute("SELECT run_id, min(ts) FROM files GROUP BY run_id "
                           "ORDER BY run_id DESC").fetchall()
        run_id, first = runs[0]
        since = first - engine.LOOKBACK
        hosts = [r[0] for r in con.execute(
            "SELECT DISTINCT host FROM files WHERE run_id = ?", [run_id]).fetchall()]
        old, new = _rule(OLD_SOURCE), _rule(BUILTIN["file_changed"]["source"])
        # A few polls with changes: both queries must find the same rows there.
        changed = [r[0] for r in con.execute(
            "SELECT DISTINCT run_id FROM file_changes WHERE change <> 'touched' "
            "ORDER BY run_id DESC LIMIT 5").fetchall()]
        same = all(
            sorted(map(repr, engine.observe(con, old, ["path"], r, hosts, since)[0].items()))
            == sorted(map(repr, engine.observe(con, new, ["path"], r, hosts, since)[0].items()))
            for r in changed)
        print(f"same observations on {len(changed)} polls with changes: {same}")
        print(f"{'file_changed, one poll':28} {'CPU ms min / med / max':>24}   "
              f"{'wall ms min / med / max':>24}")
        for label, rule in (("before (lag over 2 days)", old), ("now (built-in)", new)):
            cpu, wall = timed(con, rule, run_id, since, hosts, args.repeat)
            print(f"{label:28} {_ms(cpu):>24}   {_ms(wall):>24}")
        con.close()
        return 0 if same else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
