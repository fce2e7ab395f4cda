"""Storage benchmark: Onion's bytes per sample and per process row against its peers.

    python3 bench/storage.py [--hosts 20] [--days 7] [--interval 300] [--floor-every 10]

1. A synthetic fleet (``storage_fleet``) is polled round by round and every round goes
   through Onion's real store path: ``poller.run.make_batch`` -> ``fanout.deliver`` to
   the DuckDB sink, as ``onion poll`` does. Every ``--floor-every``-th round the same
   rows, as ready numpy arrays, also go to a plain DuckDB file (open, one INSERT per
   table, close; not part of the store path's time): the floor DuckDB itself sets. Then
   ``archive.maintain(force_rewrite=True)`` archives every closed day (raw kept, all
   tiers written) and ``archive.stats`` measures the archives.
2. The same numeric samples are read back from Onion (every non-NULL numeric, non-key
   value of the metric tables; the generator's own count is checked against it) into one
   staging table, and from there fed to Prometheus (promtool blocks, then compacted by a
   Prometheus server), VictoriaMetrics (imported, flushed, force-merged) and Parquet zstd.
3. One table of bytes per sample, one of bytes per process row, the biggest columns, and
   an extrapolation to a year of 100 hosts with the default rollup tiers.

Everything runs on loopback, in a temporary folder removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import storage_fleet
import storage_peers as peers

from onion.poller.run import make_batch
from onion.probes.registry import installed
from onion.storage import archive, catalog, fanout
from onion.storage import duck as store
from onion.storage.batch import Batch
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.queue import Queue

METRIC_TABLES = ("cpu", "disk_io", "filesystems", "gpu", "memory", "network", "system",
                 "temperatures")
YEAR_HOSTS, YEAR_DAYS, BUDGET = 100, 365, 2 * 1000**3
DEFAULT_TIERS = archive.Retention()   # hot 1 d, raw 14 d, 5m 30 d, 1h and top 365 d, 1d forever
# After each round, as run_poll does with the default hot days (so the DuckDB file's peak
# is the default's), but keeping every tier (0: forever) to measure it.
ROUND_RETENTION = archive.Retention(hot_days=DEFAULT_TIERS.hot_days, raw_days=0, days_5m=0,
                                    days_1h=0, days_1d=0)
# The goals of issue #17, each judged in every run.
STORE_BASELINE_ROWS_S = 53_675   # the store path before this work, same data (20 hosts x 7 d)


def ordinal(n: int) -> str:
    """10 -> '10th', 2 -> '2nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1000
    return f"{n:.2f}"


def numeric_fields(table: str) -> list[str]:
    """The numeric, non-key fields of a probe's record: what a TSDB calls samples."""
    probe = installed()[table]
    return [c.name for c in probe.columns
            if not c.key and c.type.is_numeric]


# -- 1. write the fleet through Onion's store, one round at a time ---------------------------

@dataclasses.dataclass(slots=True)
class WriteResult:
    rounds: int = 0
    host_polls: int = 0
    rows: Counter[str] = dataclasses.field(default_factory=Counter)
    samples: int = 0                 # non-NULL numeric samples in the metric tables
    gen_s: float = 0.0
    store_s: float = 0.0
    maintain_s: float = 0.0
    hot_bytes: int = 0               # largest the DuckDB file got (hot days + metadata)
    floor_rounds: int = 0            # rounds also written to the DuckDB floor
    floor_rows: int = 0
    floor_s: float = 0.0             # open, INSERTs, close of those rounds; not in store_s


def store_floor(db: Path, batch: Batch, made: set[str], out: WriteResult) -> None:
    """One round's rows straight into plain DuckDB tables: what DuckDB alone costs. The
    arrays are built and missing tables created before the clock starts."""
    tables = {name: spec.pairs() for name, spec in batch.tables.items()
              if batch.row_count(name)}
    arrays = {name: store._arrays(cols, batch.data[name]) for name, cols in tables.items()}
    if set(tables) - made:
        con = duckdb.connect(str(db))
        try:
            for name in set(tables) - made:
                cols = ", ".join(f"{q(c)} {sql}" for c, sql in tables[name])
                con.execute(f"CREATE TABLE IF NOT EXISTS {q(name)} ({cols})")
        finally:
            con.close()
        made.update(tables)
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    try:
        for name, arr in arrays.items():
            con.register("_floor_rows", arr)
            con.execute(f"INSERT INTO {q(name)} SELECT * FROM _floor_rows")
            con.unregister("_floor_rows")
    finally:
        con.close()   # checkpoints, as the sink's close does
    out.floor_s += time.perf_counter() - t0
    out.floor_rounds += 1
    out.floor_rows += sum(batch.row_count(name) for name in tables)


def write_fleet(args: argparse.Namespace, db: Path, arch: Path, spool_dir: Path,
                start: int, floor_db: Path | None = None) -> WriteResult:
    probes = sorted((installed()[n] for n in storage_fleet.PROBES), key=lambda p: p.name)
    fields = {t: numeric_fields(t) for t in METRIC_TABLES}
    fleet = storage_fleet.Fleet(args.hosts, start, seed=args.seed)
    queue = Queue(spool_dir)
    out = WriteResult()
    rounds = args.days * 86400 // args.interval
    report_every = max(1, rounds // 10)
    floor_made: set[str] = set()     # tables the floor database has
    for k in range(rounds):
        round_ts = start + k * args.interval
        t0 = time.perf_counter()
        results = list(fleet.round(round_ts))
        for r in results:
            for name, pr in r.probes.items():
                out.rows[name] += len(pr.records)
                if name in fields:
                    names = fields[name]
                    out.samples += sum(getattr(rec, f) is not None
                                       for rec in pr.records for f in names)
        t1 = time.perf_counter()
        run_id = round_ts * 1_000_000
        began = dt.datetime.fromtimestamp(round_ts, dt.UTC).replace(tzinfo=None)
        run_row: dict[str, Any] = {
            "run_id": run_id, "started_at": began,
            "finished_at": began + dt.timedelta(seconds=30), "wall_s": 30.0,
            "hosts": len(results), "hosts_ok": sum(r.status == "ok" for r in results),
            "cpu_user_s": 1.5, "cpu_system_s": 0.3, "peak_rss_bytes": 90_000_000,
            "version": "bench", "argv": "bench/storage.py"}
        batch = make_batch(run_id, results, probes, run_row)
        sink = DuckDBSink("duckdb", db, arch, ROUND_RETENTION, spool_dir)
        if args.via_spool:
            with store.private_files():
                queue.put(batch, [sink.name])
        try:  # what onion poll does: the batch to the sink, the queue only when it must wait
            delivery = fanout.deliver([sink], queue, None if args.via_spool else batch)
        finally:
            # Closing checkpoints, as at the end of onion poll (which checkpoints before
            # only on a round that maintains): the WAL's rows are in the file, timed here.
            sink.close()
        if not delivery.of(sink.name).ok or batch.batch_id not in delivery.of(sink.name).stored:
            raise RuntimeError(f"round {k}: store failed: {delivery.of(sink.name).error}")
        t2 = time.perf_counter()
        # As after every poll: archive the days that closed (raw kept: no retention).
        archive.maintain(db, arch, ROUND_RETENTION,
                         dt.datetime.fromtimestamp(round_ts + 60, dt.UTC).replace(tzinfo=None),
                         spool=spool_dir)
        t3 = time.perf_counter()
        out.gen_s += t1 - t0
        out.store_s += t2 - t1
        out.maintain_s += t3 - t2
        out.hot_bytes = max(out.hot_bytes, db.stat().st_size)
        # Not the first round (the schema's): the K-th, 2K-th, ... as a steady round.
        if floor_db is not None and args.floor_every and (k + 1) % args.floor_every == 0:
            store_floor(floor_db, batch, floor_made, out)
        out.rounds += 1
        out.host_polls += len(results)
        if (k + 1) % report_every == 0:
            print(f"  round {k + 1}/{rounds}: store {out.store_s:.0f} s, maintain "
                  f"{out.maintain_s:.0f} s, generate {out.gen_s:.0f} s", file=sys.stderr,
                  flush=True)
    return out


# -- 2. the same samples, out of Onion, into one staging table -------------------------------

def exporting(db: Path) -> contextlib.closing[duckdb.DuckDBPyConnection]:
    """A read-only connection that may write files elsewhere (the staging and Parquet peer
    files), as ``archive.export_parquet`` has: the query paths' locked-down one may not."""
    return contextlib.closing(store.connect(db, read_only=True))


def esc(expr: str) -> str:
    """A Prometheus label value, escaped, as SQL."""
    return (f"replace(replace(replace(CAST({expr} AS VARCHAR), '\\', '\\\\'), '\"', '\\\"'), "
            f"chr(10), '\\n')")


def stage_samples(db: Path, stage: Path) -> int:
    """Every non-NULL numeric, non-key value of the metric tables, as one long table."""
    with exporting(db) as con:
        specs = catalog.table_specs(con)
        parts = []
        for table in METRIC_TABLES:
            if table not in specs:
                continue
            spec = specs[table]
            keys = list(spec.key)
            counters = set(spec.counters)
            item = (" || '/' || ".join(f"CAST({q(k)} AS VARCHAR)" for k in keys)
                    if keys else "''")
            labels = " || ".join([f"'host=\"' || {esc('host')} || '\"'"]
                                 + [f"',{k}=\"' || {esc(q(k))} || '\"'" for k in keys])
            for column in spec.columns:
                name = column.name
                if name in ("run_id", "host", "ts") or name in keys:
                    continue
                if not column.type.is_numeric:
                    continue
                parts.append(
                    f"SELECT {lit(table)} AS tbl, {lit(name)} AS metric, "
                    f"{'true' if name in counters else 'false'} AS counter, host, "
                    f"{item} AS item, {labels} AS labels, ts, CAST({q(name)} AS VARCHAR) AS v "
                    f"FROM main.{q(table)} WHERE {q(name)} IS NOT NULL")
        tmp = stage.with_suffix(".parquet")
        con.execute("COPY (" + "\nUNION ALL\n".join(parts) + f") TO {lit(str(tmp))} "
                    "(FORMAT parquet, COMPRESSION zstd)")
    con = duckdb.connect(str(stage))
    try:
        con.execute(f"CREATE TABLE s AS SELECT * FROM read_parquet({lit(str(tmp))})")
        n = con.execute("SELECT count(*) FROM s").fetchone()
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
    return int(n[0]) if n else 0


# -- 3. peers ----------------------------------------------------------------------------------

def run_text_peers(stage: Path, work: Path, samples: int, span: tuple[int, int]
                   ) -> list[peers.PeerResult]:
    """Prometheus and VictoriaMetrics, fed in one ordered pass over the staging table."""
    results: list[peers.PeerResult] = []
    promtool = shutil.which("promtool")
    prom: peers.PromWriter | None = None
    prom_err: str | None = None
    if promtool is None:
        prom_err = "promtool is not installed (Debian package prometheus)"
    else:
        prom = peers.PromWriter(work / "om", work / "prom-blocks", promtool)
    vm_dir = work / "vm-data"
    start, end = span
    months = sorted({(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t)).strftime("%Y_%m")
                     for t in range(start, end + 86400, 86400)})
    vm_result: peers.PeerResult
    con = duckdb.connect(str(stage), read_only=True)
    try:
        with contextlib.ExitStack() as stack:
            base: str | None = None
            vm_err: str | None = None
            try:
                base = stack.enter_context(peers.victoria(vm_dir, work))
            except (RuntimeError, OSError) as exc:
                vm_err = f"did not start: {peers.first_line(str(exc))}"
            vm = peers.VmWriter(f"{base}/api/v1/import/prometheus") if base else None
            t0 = time.perf_counter()
            try:
                peers.feed(con, prom, vm)
            finally:
                if prom is not None:
                    prom.close()
            feed_s = time.perf_counter() - t0
            print(f"  fed {samples:,} samples to the peers in {feed_s:.0f} s", file=sys.stderr)
            if vm is not None and base is not None:
                if vm.error:
                    vm_err = vm.error
                else:
                    notes = peers.vm_finish(base, vm_dir, months)
                    size = peers.vm_size(vm_dir)
                    held = peers.vm_count(base, end, end - start)
                    note = "data+indexdb after force_merge"
                    if held is not None and held != samples:
                        note += f"; VM counts {held:,} samples"
                    elif held is not None:
                        note += "; sample count checked"
                    if notes:
                        note += "; " + "; ".join(notes)
                    vm_result = peers.PeerResult("VictoriaMetrics", size, samples, note)
            if vm_err is not None:
                vm_result = peers.PeerResult("VictoriaMetrics", None, samples, error=vm_err)
    finally:
        con.close()
    if prom is not None and prom.error is None:
        size, blocks, held = peers.block_stats(work / "prom-blocks")
        check = "" if held == samples else f"; blocks hold {held:,} samples"
        results.append(peers.PeerResult(
            "Prometheus (promtool 2h blocks)", size, samples,
            f"{blocks} blocks as backfilled, not compacted{check}"))
        try:
            size, blocks, held = peers.prometheus_compact(work / "prom-blocks", work)
            check = "" if held == samples else f"; blocks hold {held:,} samples"
            results.insert(0, peers.PeerResult(
                "Prometheus", size, samples,
                f"{blocks} blocks after the server's own compaction{check}"))
        except (RuntimeError, OSError) as exc:
            results.insert(0, peers.PeerResult("Prometheus", None, samples,
                                               error=f"compaction: {peers.first_line(str(exc))}"))
    else:
        results.append(peers.PeerResult("Prometheus", None, samples,
                                        error=prom_err or (prom.error if prom else None)))
    results.append(vm_result)
    peers.rm_tree(work / "om")
    return results


def run_parquet_peers(db: Path, stage: Path, work: Path, samples: int
                      ) -> tuple[list[peers.PeerResult], list[tuple[str, int, str]]]:
    out: list[peers.PeerResult] = []
    proc_rows: list[tuple[str, int, str]] = []
    long = work / "long.parquet"
    try:
        con = duckdb.connect(str(stage), read_only=True)
        try:
            con.execute(
                f"COPY (SELECT ts, host, item, tbl || '.' || metric AS metric, "
                f"CAST(v AS DOUBLE) AS value FROM s ORDER BY host, item, metric, ts) "
                f"TO {lit(str(long))} (FORMAT parquet, COMPRESSION zstd)")
        finally:
            con.close()
        out.append(peers.PeerResult("Parquet zstd, long", long.stat().st_size, samples,
                                    "(ts, host, item, metric, DOUBLE) by host, item, metric, ts"))
    except duckdb.Error as exc:
        out.append(peers.PeerResult("Parquet zstd, long", None, samples,
                                    error=peers.first_line(str(exc))))
    wide = work / "wide"
    wide.mkdir(exist_ok=True)
    try:
        with exporting(db) as con:
            specs = catalog.table_specs(con)
            total = 0
            for table in METRIC_TABLES:
                if table not in specs:
                    continue
                keys = list(specs[table].key)
                order = ", ".join(q(c) for c in ["host", *keys, "ts"])
                path = wide / f"{table}.parquet"
                con.execute(f"COPY (SELECT * FROM main.{q(table)} ORDER BY {order}) "
                            f"TO {lit(str(path))} (FORMAT parquet, COMPRESSION zstd)")
                total += path.stat().st_size
            out.append(peers.PeerResult("Parquet zstd, wide", total, samples,
                                        "Onion's rows, one file per table, by host, key, ts"))
            for label, order in (("sorted by host, pid, ts", "host, pid, ts"),
                                 ("arrival order (ts, host)", "ts, host, pid")):
                path = wide / "processes.parquet"
                con.execute(f"COPY (SELECT * FROM main.processes ORDER BY {order}) "
                            f"TO {lit(str(path))} (FORMAT parquet, COMPRESSION zstd)")
                proc_rows.append((f"Parquet zstd, {label}", path.stat().st_size,
                                  "same rows, one file, DuckDB defaults"))
                path.unlink()
    except duckdb.Error as exc:
        out.append(peers.PeerResult("Parquet zstd, wide", None, samples,
                                    error=peers.first_line(str(exc))))
    peers.rm_tree(wide)
    long.unlink(missing_ok=True)
    return out, proc_rows


# -- 4. report -----------------------------------------------------------------------------------

def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i in (0, len(r) - 1) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    print()


def tier_bytes(db: Path) -> dict[tuple[str, str], tuple[int, int]]:
    with store.reading(db) as con:
        return {(t, tier): (int(b), int(n)) for t, tier, b, n in con.execute(
            "SELECT table_name, tier, sum(bytes), sum(rows) FROM archive_files "
            "GROUP BY ALL").fetchall()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--interval", type=int, default=300, help="seconds between polls")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the temporary folder goes (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--no-peers", action="store_true", help="Onion only")
    ap.add_argument("--via-spool", action="store_true",
                    help="write every batch to the queue first (Queue.put, then deliver)")
    ap.add_argument("--floor-every", type=int, default=10, metavar="K",
                    help="every K-th round, time DuckDB alone on the same rows (0: never)")
    args = ap.parse_args(argv)
    if args.hosts < 1 or args.days < 1 or not 10 <= args.interval <= 86400:
        ap.error("need --hosts >= 1, --days >= 1, 10 <= --interval <= 86400")
    if args.floor_every < 0:
        ap.error("need --floor-every >= 0")
    work = Path(tempfile.mkdtemp(prefix="onion-storage-bench-", dir=args.workdir))
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = int((today - dt.timedelta(days=args.days)).timestamp())
    end = start + args.days * 86400
    db, arch, spool = work / "onion.duckdb", work / "onion.archive", work / "spool"
    print(f"Onion storage benchmark: {args.hosts} hosts, {args.days} days, polls every "
          f"{args.interval} s, from {dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d} "
          f"(work folder {work})", file=sys.stderr)
    w = write_fleet(args, db, arch, spool, start, work / "floor.duckdb")
    t0 = time.perf_counter()
    keep_all = archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0, days_1d=0)
    now = dt.datetime.fromtimestamp(end + 3600, dt.UTC).replace(tzinfo=None)
    report = archive.maintain(db, arch, keep_all, now, spool=spool, force_rewrite=True)
    maintain_s = time.perf_counter() - t0
    db_size, tstats = archive.stats(db)
    by_table = {s.table: s for s in tstats}
    hot_left = sum(s.hot_rows for s in tstats)
    footprint = archive.footprint(db, arch, spool)
    tiers = tier_bytes(db)

    metric_bytes = sum(by_table[t].archive_bytes for t in METRIC_TABLES if t in by_table)
    metric_rows = sum(by_table[t].archived_rows for t in METRIC_TABLES if t in by_table)
    slots = sum(by_table[t].archived_rows * by_table[t].samples_per_row
                for t in METRIC_TABLES if t in by_table)
    proc = by_table.get("processes")
    total_rows = sum(w.rows.values())
    print()
    print(f"== Onion write path ({args.hosts} hosts x {args.days} days, {w.rounds} rounds, "
          f"{w.host_polls:,} host polls) ==")
    path = "make_batch -> Queue.put -> deliver" if args.via_spool else \
        "make_batch -> deliver(batch) to the DuckDB sink, as run_poll"
    print(f"store path ({path}): {w.store_s:.1f} s for {total_rows:,} rows = "
          f"{total_rows / w.store_s:,.0f} rows/s, {w.samples / w.store_s:,.0f} metric "
          f"samples/s, {w.store_s / w.rounds * 1000:.0f} ms per round of {args.hosts} hosts "
          f"(generating the records took {w.gen_s:.1f} s more)")
    floor_ms = w.floor_s / w.floor_rounds * 1000 if w.floor_rounds else None
    floor_rows_s = w.floor_rows / w.floor_s if w.floor_rounds and w.floor_s else None
    if floor_ms is not None and floor_rows_s is not None:
        print(f"DuckDB floor (the same rows from ready arrays: open, one INSERT per table, "
              f"close; every {ordinal(args.floor_every)} round): {floor_ms:.0f} ms per "
              f"round = {floor_rows_s:,.0f} rows/s")
    else:
        print("DuckDB floor: not measured (--floor-every 0, or fewer rounds than it)")
    print(f"archive.maintain after each round: {w.maintain_s:.1f} s in all "
          f"({w.maintain_s / w.rounds * 1000:.0f} ms per round); largest DuckDB file "
          f"{human(w.hot_bytes)}")
    print(f"final archive.maintain(force_rewrite=True): {maintain_s:.1f} s, "
          f"{len(report.archived)} table-days archived, {hot_left} rows left hot")
    print(f"after: DuckDB file {human(db_size)}, total footprint {human(footprint)}")
    print()

    samples = w.samples
    results: list[peers.PeerResult] = []
    proc_peers: list[tuple[str, int, str]] = []
    if not args.no_peers:
        t0 = time.perf_counter()
        staged = stage_samples(db, work / "stage.duckdb")
        print(f"  staged {staged:,} samples in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        if staged != samples:
            print(f"WARNING: Onion returns {staged:,} samples, the generator wrote {samples:,}")
        results += run_text_peers(work / "stage.duckdb", work, staged, (start, end))
        parquet, proc_peers = run_parquet_peers(db, work / "stage.duckdb", work, staged)
        results += parquet
        (work / "stage.duckdb").unlink(missing_ok=True)
    onion = peers.PeerResult(
        "Onion (raw archives)", metric_bytes, samples,
        f"{len(METRIC_TABLES)} tables, {metric_rows:,} rows; "
        f"{metric_bytes / max(1, slots):.2f} B per column slot incl. NULLs (db stats)")
    results.insert(0, onion)
    prom = next((r for r in results if r.store == "Prometheus" and r.per_sample), None)
    vm = next((r for r in results if r.store == "VictoriaMetrics" and r.per_sample), None)

    print(f"== Bytes per numeric sample: {samples:,} samples "
          f"({samples / max(1, w.host_polls):.0f} per host poll), the same in every store ==")
    rows = []
    for r in results:
        if r.per_sample is None:
            rows.append([r.store, "-", "-", "-", f"FAILED: {r.error or 'no result'}"])
            continue
        ratio = f"{r.per_sample / prom.per_sample:.2f}" if prom and prom.per_sample else "-"
        rows.append([r.store, f"{r.per_sample:.3f}", ratio, human(r.bytes), r.notes])
    print_table(["store", "B/sample", "vs Prom", "size", "notes"], rows)

    print("== Process rows ==")
    prow = []
    if proc and proc.archived_rows:
        prow.append(["Onion (raw archives)", f"{proc.archive_bytes / proc.archived_rows:.2f}",
                     human(proc.archive_bytes),
                     f"{proc.archived_rows:,} rows, {proc.archived_rows / max(1, w.host_polls):.0f}"
                     f" per host poll; goal <= 3 B/row"])
        for label, size, note in proc_peers:
            prow.append([label, f"{size / proc.archived_rows:.2f}", human(size), note])
    mods = by_table.get("modules")
    if mods and mods.archived_rows:
        prow.append(["Onion modules (identical on every host)",
                     f"{mods.archive_bytes / mods.archived_rows:.3f}", human(mods.archive_bytes),
                     f"{mods.archived_rows:,} rows"])
    print_table(["store", "B/row", "size", "notes"], prow)

    print("== Onion footprint by tier (all tables) ==")
    by_tier: Counter[str] = Counter()
    for (_t, tier), (b, _n) in tiers.items():
        by_tier[tier] += b
    trows = [[tier, human(b), f"{b / (args.hosts * args.days):,.0f}"]
             for tier, b in sorted(by_tier.items(), key=lambda kv: -kv[1])]
    trows.append(["DuckDB file (nothing hot; catalog, runs, hosts)", human(db_size), "-"])
    trows.append(["total footprint", human(footprint),
                  f"{footprint / (args.hosts * args.days):,.0f}"])
    print_table(["tier", "bytes", "B per host-day"], trows)

    print_columns(tstats, samples, proc)
    year = extrapolate(args, by_tier, w.hot_bytes)

    print("== Goals ==")
    onion_ps = onion.per_sample or 0.0

    def judge(ok: bool | None) -> str:
        return "unknown" if ok is None else "PASS" if ok else "MISS"

    rows_s = total_rows / w.store_s
    store_note = ""
    if floor_ms is not None and floor_rows_s is not None:
        # What a round of the floor's rows may take at the goal's rate.
        allowed_ms = w.floor_rows / w.floor_rounds / (2 * STORE_BASELINE_ROWS_S) * 1000
        if floor_ms > allowed_ms:
            store_note = (f"; DuckDB's floor here, {floor_ms:.0f} ms per round, is above "
                          f"the {allowed_ms:.0f} ms the goal allows")
    goals = [
        ("fewer B/sample than Prometheus",
         f"{onion_ps:.3f} vs {prom.per_sample:.3f}" if prom and prom.per_sample else "no peer",
         judge(onion_ps < prom.per_sample if prom and prom.per_sample else None)),
        ("fewer B/sample than VictoriaMetrics",
         f"{onion_ps:.3f} vs {vm.per_sample:.3f}" if vm and vm.per_sample else "no peer",
         judge(onion_ps < vm.per_sample if vm and vm.per_sample else None)),
        (f"a year of {YEAR_HOSTS} hosts, default tiers <= {human(BUDGET)}",
         f"{human(year)} (extrapolated, hot peak included)", judge(year <= BUDGET)),
        (f"store path >= 2 x {STORE_BASELINE_ROWS_S:,} rows/s",
         f"{rows_s:,.0f} rows/s ({rows_s / STORE_BASELINE_ROWS_S:.2f}x){store_note}",
         judge(rows_s >= 2 * STORE_BASELINE_ROWS_S)),
    ]
    if floor_ms is not None and floor_rows_s is not None:
        # Information, not a goal: the most the store path could reach with DuckDB.
        goals.append(("store path floor (DuckDB alone)",
                      f"{floor_rows_s:,.0f} rows/s ({floor_rows_s / STORE_BASELINE_ROWS_S:.2f}x)"
                      f", {floor_ms:.0f} ms per round", "floor"))
    if proc and proc.archived_rows:
        per_row = proc.archive_bytes / proc.archived_rows
        goals.append(("<= 3 B per process row", f"{per_row:.2f}", judge(per_row <= 3)))
    print_table(["goal", "measured", "status"], [list(g) for g in goals])
    return 0


def print_columns(tstats: list[archive.TableStats], samples: int,
                  proc: archive.TableStats | None) -> None:
    cols = [(s.table, c, enc, b) for s in tstats if s.table in METRIC_TABLES
            for c, enc, b in s.columns]
    cols.sort(key=lambda x: -x[3])
    total = sum(b for *_, b in cols) or 1
    print("== Biggest columns of the metric archives (archive.stats, Parquet column chunks) ==")
    print_table(["table.column", "encodings", "bytes", "share", "B/sample"],
                [[f"{t}.{c}", enc, human(b), f"{b * 100 / total:.1f}%", f"{b / samples:.3f}"]
                 for t, c, enc, b in cols[:15]])
    if proc and proc.columns:
        ptotal = sum(b for *_, b in proc.columns) or 1
        print("== Biggest columns of the process archives ==")
        print_table(["column", "encodings", "bytes", "share", "B/row"],
                    [[c, enc, human(b), f"{b * 100 / ptotal:.1f}%",
                      f"{b / max(1, proc.archived_rows):.3f}"]
                     for c, enc, b in proc.columns[:10]])


def extrapolate(args: argparse.Namespace, by_tier: Counter[str], hot_bytes: int) -> float:
    """A year of 100 hosts with the default tiers, from the bytes per host-day measured
    here; returns the total."""
    host_days = args.hosts * args.days
    per = {tier: b / host_days for tier, b in by_tier.items()}
    r = DEFAULT_TIERS
    # Measured at --interval; the year is at 5-minute polls: raw rows (and the hot file)
    # grow with polls, a 5-minute bucket holds one row at 5 minutes or faster, an hourly
    # or daily one one row whatever the interval.
    scale = args.interval / 300
    factor = {"raw": scale, "5m": max(1.0, scale), "top": 1.0, "1h": 1.0, "1d": 1.0}
    print(f"inputs: {host_days:,} host-days measured ({args.hosts} hosts x {args.days} days at "
          f"{args.interval} s), bytes per host-day per tier below x {YEAR_HOSTS} hosts x the "
          f"days each tier is kept (archive.Retention defaults), x {scale:g} for raw rows, "
          f"which grow with polls; the DuckDB file's peak ({human(hot_bytes)} for "
          f"{args.hosts} hosts at hot_days = {r.hot_days}) x {YEAR_HOSTS / args.hosts:g}")
    rows = []
    total = 0.0
    for tier in ("raw", "top", "5m", "1h", "1d"):
        days = r.keep_days(tier) or YEAR_DAYS
        days = min(days, YEAR_DAYS)
        per_day = per.get(tier, 0.0) * factor[tier]
        b = per_day * YEAR_HOSTS * days
        total += b
        rows.append([tier, f"{days}", f"{per_day:,.0f}", human(b)])
    # The largest the DuckDB file got while polling holds the hot days of the whole fleet.
    hot = hot_bytes / args.hosts * scale * YEAR_HOSTS
    total += hot
    rows.append(["hot (DuckDB, peak)", f"{r.hot_days}", "-", human(hot)])
    rows.append(["total", "", "", f"{human(total)} of the {human(BUDGET)} goal "
                 f"({'inside' if total <= BUDGET else 'OVER'})"])
    print(f"== EXTRAPOLATION (not measured): a year of {YEAR_HOSTS} hosts at 5-minute polls "
          f"with the default tiers, from the bytes per host-day measured above ==")
    print_table(["tier", "days kept", "B per host-day", "bytes"], rows)
    return total


if __name__ == "__main__":
    sys.exit(main())
