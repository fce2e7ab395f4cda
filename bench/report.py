"""The whole report folder for a big fleet: time and size, the SQL's share, each page.

    python bench/report.py [--hosts 200] [--days 7] [--step 300] [--db FILE] [--out DIR]
                           [--profile]

Generates hosts × days of polls every ``step`` seconds with SQL (tests/reports/fleet_data)
into a DuckDB file (kept with --db, reused when it exists), then writes every page of the
report into a folder as ``onion report`` does and prints the folder's time and size
(every file in it: the pages, the style and script they share, the digests), with the
time spent in SQL (queries and fetching, summed over the two threads: the host pages'
queries run beside the drawing of pages) beside it, against the goals of
issue 16: at most 5 s and 8 MiB for 200 hosts × 7 days. A second run with no new poll
must write no page. ``--profile`` prints the 25 costliest functions of the first run
(cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onion.reports import render
from onion.reports.sql import Timed
from onion.storage import duck as store
from tests.reports import fleet_data

GOAL_S, GOAL_MIB = 5.0, 8.0


def _size(folder: Path) -> tuple[int, int, int]:
    """Every file of the folder (pages, the shared style and script, the digests), the
    number of pages, the median host page."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    pages = [p for p in files if p.suffix == ".html"]
    sizes = sorted(p.stat().st_size for p in pages if p.parent.name == render.HOST_DIR)
    return sum(p.stat().st_size for p in files), len(pages), sizes[len(sizes) // 2] if sizes else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--step", type=int, default=300, help="seconds between polls")
    ap.add_argument("--db", type=Path, help="reuse (or create) this database file")
    ap.add_argument("--out", type=Path, help="write the folder here (default: a temp folder)")
    ap.add_argument("--profile", action="store_true", help="cProfile the first run")
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
    out = args.out or Path(tmp.name) / "site"
    out.mkdir(parents=True, exist_ok=True)
    with store.reading(db) as con:
        newest = con.execute("SELECT max(ts) FROM polls").fetchone()[0]
        hosts = con.execute("SELECT count(*) FROM hosts").fetchone()[0]
        now = newest + dt.timedelta(seconds=1)
        since = dt.timedelta(days=args.days)
        timed = Timed(con)
        prof = cProfile.Profile() if args.profile else None
        t = time.perf_counter()
        if prof:
            prof.enable()
        written = render.write_pages(timed, out, since=since, now=now, force=True)  # type: ignore[arg-type]
        if prof:
            prof.disable()
        took = time.perf_counter() - t
        total, pages, median = _size(out)
        again = Timed(con)
        t = time.perf_counter()
        rewritten = render.write_pages(again, out, since=since, now=now)  # type: ignore[arg-type]
        took2 = time.perf_counter() - t
    ok_t, ok_s = took <= GOAL_S, total / 2**20 <= GOAL_MIB
    print(f"{hosts} hosts × {args.days:g} days: the whole folder ({len(written)} pages written, "
          f"{pages} in the folder) in {took:.2f} s, SQL {timed.seconds:.2f} s of it on two "
          f"threads ({timed.queries} queries; much of it while pages are drawn); "
          f"{total / 2**20:.2f} MiB (host page median {median / 1024:.0f} KiB)")
    print(f"  time {took:.2f} s ≤ {GOAL_S:g} s: {'PASS' if ok_t else 'MISS'}; "
          f"size {total / 2**20:.2f} MiB ≤ {GOAL_MIB:g} MiB: {'PASS' if ok_s else 'MISS'}")
    print(f"second run, no new poll: {len(rewritten)} pages written in {took2:.2f} s "
          f"(SQL {again.seconds:.2f} s): {'PASS' if not rewritten else 'MISS'}")
    if prof:
        for took_q, query in sorted(timed.slowest, reverse=True)[:10]:
            print(f"  {took_q:6.2f} s  {query}")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    tmp.cleanup()


if __name__ == "__main__":
    main()
