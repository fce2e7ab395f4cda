"""Render time and size of each report page for a big fleet.

    python bench/report.py [--hosts 200] [--days 7] [--step 300] [--db FILE] [--keep]

Generates hosts × days of polls every ``step`` seconds with SQL (tests/reports/fleet_data)
into a DuckDB file, then renders the overview, the alerts and changes pages and every
host page, printing the time and size of each. Goals (issue 5): the overview under 1 s
and 500 KB, a host page under 0.3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onion.reports import render
from onion.storage import duck as store
from tests.reports import fleet_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--step", type=int, default=300, help="seconds between polls")
    ap.add_argument("--db", type=Path, help="reuse (or create) this database file")
    ap.add_argument("--out", type=Path, help="write the pages here too")
    args = ap.parse_args()
    end = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        t = time.perf_counter()
        with duckdb.connect(str(db)) as con:
            n = fleet_data.generate(con, args.hosts, args.days, end, args.step)
        print(f"generated {n} host polls ({args.hosts} hosts × {args.days:g} days every "
              f"{args.step} s) in {time.perf_counter() - t:.1f} s; "
              f"database {db.stat().st_size / 2**20:.0f} MiB")
    with store.reading(db) as con:
        newest = con.execute("SELECT max(ts) FROM polls").fetchone()[0]
        t = time.perf_counter()
        report = render.Report(con, now=newest + dt.timedelta(seconds=1))
        rows = report.rows
        print(f"fleet rows ({len(rows)} hosts): {time.perf_counter() - t:.3f} s "
              "(part of the overview's time below)")
        report = render.Report(con, now=newest + dt.timedelta(seconds=1))
        host_times, host_sizes = [], []
        print(f"{'page':40} {'seconds':>8} {'KiB':>8}")
        for name, page in report.pages():
            t = time.perf_counter()
            html = page()
            took = time.perf_counter() - t
            size = len(html.encode())
            if args.out:
                (args.out / name).parent.mkdir(parents=True, exist_ok=True)
                (args.out / name).write_text(html, encoding="utf-8")
            if name.startswith(render.HOST_DIR + "/"):
                host_times.append(took)
                host_sizes.append(size)
                if len(host_times) > 3:
                    continue
            print(f"{name:40} {took:8.3f} {size / 1024:8.1f}")
        if host_times:
            print(f"host pages: {len(host_times)}; seconds median "
                  f"{statistics.median(host_times):.3f}, max {max(host_times):.3f}; KiB median "
                  f"{statistics.median(host_sizes) / 1024:.1f}, max {max(host_sizes) / 1024:.1f}")
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        render.write_report(db, Path(out), now=newest + dt.timedelta(seconds=1))
        total = sum(p.stat().st_size for p in Path(out).rglob("*.html"))
        print(f"write_report, every page to disk (threads): {time.perf_counter() - t:.1f} s, "
              f"{total / 2**20:.1f} MiB")
    tmp.cleanup()


if __name__ == "__main__":
    main()
