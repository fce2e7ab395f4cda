"""Keeping years of samples small: closed days go to sorted Parquet, with rollup tiers,
retention per tier and a size budget that is never exceeded for long.

Why this shape (measured with bench/storage.py): DuckDB appends rows in arrival order
and does not give back the space of deleted rows, while the same rows sorted by
(host, item, time) and written as Parquet v2 (delta-encoded integers and timestamps,
dictionaries, zstd) take a fraction of the room. So the database keeps only the recent
days (schema ``hot``); each closed day of each table becomes one immutable file per tier:

    <archive>/<table>/raw/<day>-<n>.parquet   every row, sorted
    <archive>/<table>/5m|1h|1d/…              per host and item: count, min/avg/max of
                                              each gauge, last value of each counter
    <archive>/processes/top/…                 per host and hour, the top consumers by
                                              user and command (CPU s, peak RSS, count)

The table users query (``network``) is a view over the hot rows and the raw files;
``network_1h`` and friends over the tiers (hot rows rolled up on the fly). A catalog
table (``archive_files``) lists the files; a file is written before the transaction that
catalogs it and deletes its rows from ``hot``, so a crash leaves either the rows or the
file, never both counted. Retention drops whole files; the budget
(``[storage] max_size``) drops the oldest raw days first, then the finer tiers, and
records what it thinned in ``storage_events``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from onion.core.config import StorageSettings
from onion.core.errors import StorageError
from onion.core.files import private_dir
from onion.core.sqltext import ident, literal
from onion.core.units import parse_budget
from onion.storage import duck as store
from onion.storage.catalog import archive_root, relative, resolve, set_archive_root, table_specs
from onion.storage.schema import TableSpec
from onion.storage.views import TOP_TABLES, refresh_views, tier_order, tier_selects, top_select

PARQUET = "FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2, ROW_GROUP_SIZE 1000000"
# What an archive file is written with (bench/storage.py, 20 hosts x 2 days, metric
# tables): zstd 19 instead of 3 is 11 % smaller; no bloom filters (they were 55 % of a
# process file and sorted row groups' min/max prune as well); dictionaries only where
# they are small (a counter's or a timestamp's dictionary costs more than its deltas,
# a temperature's or a mount's saves): the writer tries these limits, in bytes, and
# keeps the smallest file. A file is written once and read for a year.
ARCHIVE_PARQUET = (f"{PARQUET}, COMPRESSION_LEVEL 19, WRITE_BLOOM_FILTER false, "
                   "DICTIONARY_SIZE_LIMIT {limit}")
DICT_LIMITS = (2048, 1, 8192)
TRY_LIMITS_BELOW = 250_000   # rows; a bigger file is written once, with the first limit
DECIMAL_SCALES = range(5)
# The layout of the ``top`` tier this version writes, marked in storage_events once the
# files of an older layout (every poll's top 10 processes, whole rows) are rolled up.
TOP_LAYOUT = "processes_top: hourly by user and command"


@dataclass(slots=True)
class Retention:
    hot_days: int = 1
    raw_days: int = 14
    days_5m: int = 30
    days_1h: int = 365
    days_1d: int = 0          # 0: forever
    max_size: int | None = None

    @classmethod
    def from_settings(cls, s: StorageSettings) -> Retention:
        """The one place [storage] settings become the archive's parameters."""
        return cls(hot_days=s.hot_days, raw_days=s.raw_days, days_5m=s.rollup_5m_days,
                   days_1h=s.rollup_1h_days, days_1d=s.rollup_1d_days,
                   max_size=parse_budget(s.max_size, "[storage] max_size"))

    def keep_days(self, tier: str) -> int:
        # The top consumers per hour answer a year-old question: kept as the hourly rollups.
        return {"raw": self.raw_days, "5m": self.days_5m, "1h": self.days_1h,
                "top": self.days_1h, "1d": self.days_1d}[tier]


@dataclass(slots=True)
class MaintainReport:
    archived: list[tuple[str, str, int]] = field(default_factory=list)  # table, day, rows
    # table, tier, day, bytes, why ("retention" or "budget")
    dropped: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    rewritten: bool = False
    swept: int = 0          # uncatalogued files removed
    rewrite_due: bool = False
    size_before: int = 0
    size_after: int = 0

    @property
    def thinned(self) -> list[str]:
        return [f"{t} {tier} {day} ({b} bytes)" for t, tier, day, b, why in self.dropped
                if why == "budget"]


def footprint(db: Path, archive_dir: Path, spool: Path | None = None) -> int:
    """Every byte Onion keeps for this database."""
    total = 0
    for p in (db, db.with_name(db.name + ".wal")):
        if p.exists():
            total += p.stat().st_size
    for folder in (archive_dir, spool):
        if folder and folder.is_dir():
            total += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return total


def _order(spec: TableSpec, tier: str = "raw") -> str:
    return ", ".join(ident(c) for c in tier_order(spec, tier))


def decimal_scales(con: duckdb.DuckDBPyConnection, select: str) -> tuple[dict[str, int], int]:
    """The rows of ``select``, and its float columns whose every value is a decimal of
    at most 4 places that reads back as the very same float (what the source printed:
    "0.52", "45.5"), each with its fewest places. Stored as DECIMAL they are integers,
    delta-encoded, which compress far better than float bits; the views read them back
    as the spec's FLOAT or DOUBLE (the hot rows' type wins the union), bit for bit."""
    kinds = {n: k for n, k, *_ in con.execute(f"DESCRIBE SELECT * FROM ({select})").fetchall()
             if k in ("FLOAT", "DOUBLE")}
    floats = list(kinds)
    # NULLs fit any scale; NaN, infinities and out-of-range values fit none.
    checks = ["count(*)"] + [
        f"coalesce(bool_and(coalesce(TRY_CAST(TRY_CAST({ident(c)} AS DECIMAL(18, {d})) "
        f"AS {kinds[c]}) = {ident(c)}, false)) FILTER (WHERE {ident(c)} IS NOT NULL), true)"
        for c in floats for d in DECIMAL_SCALES]
    rows, *row = con.execute(f"SELECT {', '.join(checks)} FROM ({select})").fetchone()
    out = {}
    for i, c in enumerate(floats):
        fits = row[i * len(DECIMAL_SCALES):(i + 1) * len(DECIMAL_SCALES)]
        for d, ok in zip(DECIMAL_SCALES, fits, strict=True):
            if ok:
                out[c] = d
                break
    return out, int(rows)


def write_parquet(con: duckdb.DuckDBPyConnection, select: str, order: str, path: Path) -> int:
    """One archive file of ``select``'s rows, sorted, as small as the writer makes it
    (see ARCHIVE_PARQUET); returns its rows. A failure leaves no file behind."""
    scales, n = decimal_scales(con, select)
    cast = ""
    if scales:
        cast = " REPLACE (" + ", ".join(f"CAST({ident(c)} AS DECIMAL(18, {d})) AS {ident(c)}"
                                        for c, d in scales.items()) + ")"
    body = f"SELECT *{cast} FROM ({select}) ORDER BY {order}"
    limits = DICT_LIMITS if n < TRY_LIMITS_BELOW else DICT_LIMITS[:1]
    best: Path | None = None
    try:
        for i, limit in enumerate(limits):
            trial = path.with_name(f"{path.name}.{i}.tmp")
            con.execute(f"COPY ({body}) TO {literal(str(trial))} "
                        f"({ARCHIVE_PARQUET.format(limit=limit)})")
            if best is None or trial.stat().st_size < best.stat().st_size:
                if best is not None:
                    best.unlink()
                best = trial
            else:
                trial.unlink()
        assert best is not None
        os.replace(best, path)
    except BaseException:
        for i in range(len(limits)):
            path.with_name(f"{path.name}.{i}.tmp").unlink(missing_ok=True)
        raise
    return n


def archive_day(con: duckdb.DuckDBPyConnection, archive_dir: Path, spec: TableSpec,
                day: dt.date, now: dt.datetime) -> int:
    """Move one closed day of one table out of ``hot`` into its Parquet files.

    The files are written first; then one transaction deletes the hot rows, catalogs the
    files and rebuilds the views, so a reader sees the rows in one place or the other,
    never in neither and never twice. A failure at any point removes the files of this
    day that it wrote, the half-written one included.
    """
    table = spec.name
    lo, hi = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    where = f"ts >= TIMESTAMP {literal(lo)} AND ts < TIMESTAMP {literal(hi)}"
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    written: list[tuple[str, Path, int]] = []
    day_rows = f"(SELECT * FROM hot.{ident(table)} WHERE {where})"
    tiers = {"raw": f"SELECT * FROM {day_rows}",
             **tier_selects(spec, source=day_rows)}
    path: Path | None = None
    try:
        for tier, select in tiers.items():
            folder = archive_dir / table / tier
            private_dir(folder)
            path = folder / f"{lo}-{stamp}.parquet"
            n = write_parquet(con, select, _order(spec, tier), path)
            written.append((tier, path, n))
        path = None
        rows = written[0][2]
        with store.transaction(con):
            deleted = con.execute(f"DELETE FROM hot.{ident(table)} WHERE {where}").fetchone()[0]
            if deleted != rows:  # rows arrived between COPY and DELETE: never lose them
                raise StorageError(f"{table} {lo}: wrote {rows} rows, hot had {deleted}")
            for tier, f, n in written:
                con.execute("INSERT INTO archive_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [table, tier, day, relative(archive_dir, f), n, f.stat().st_size,
                             now])
            refresh_views(con, only={table})
    except BaseException:
        for f in [*(w[1] for w in written), *([path] if path else [])]:
            f.unlink(missing_ok=True)
        raise
    return rows


def _drop_files(con: duckdb.DuckDBPyConnection, archive_dir: Path, report: MaintainReport,
                rows: list[tuple[Any, ...]], action: str, now: dt.datetime) -> None:
    """Un-catalog these files and rebuild the views in one transaction, then delete them:
    a crash in between leaves a file the catalog does not name (the next sweep removes
    it), never a view naming a file that is gone."""
    if not rows:
        return
    with store.transaction(con):
        for table, tier, day, path, size in rows:
            con.execute("DELETE FROM archive_files WHERE path = ?", [path])
            con.execute("INSERT INTO storage_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [now, action, table, tier, day, size, path])
        refresh_views(con, only={r[0] for r in rows})
    for table, tier, day, path, size in rows:
        resolve(archive_dir, path).unlink(missing_ok=True)
        report.dropped.append((table, tier, str(day), size, action))


def sweep(con: duckdb.DuckDBPyConnection, archive_dir: Path, now: dt.datetime) -> int:
    """Remove archive files the catalog does not name (left by a crash between writing a
    day and cataloguing it, or after un-cataloguing one): they are counted against the
    budget and read by nobody."""
    if not archive_dir.is_dir():
        return 0
    named = {resolve(archive_dir, r[0]).resolve() for r in con.execute(
        "SELECT path FROM archive_files").fetchall()}
    removed = 0
    for f in archive_dir.glob("*/*/*.parquet.*.tmp"):  # a trial cut short: never catalogued
        f.unlink(missing_ok=True)
    for f in archive_dir.glob("*/*/*.parquet"):
        if f.resolve() not in named:
            size = f.stat().st_size
            f.unlink(missing_ok=True)
            con.execute("INSERT INTO storage_events VALUES (?, 'swept', ?, ?, NULL, ?, ?)",
                        [now, f.parent.parent.name, f.parent.name, size,
                         "not in the catalog: left by an interrupted write or drop"])
            removed += 1
    return removed


def maintain(db: Path, archive_dir: Path, retention: Retention, now: dt.datetime,
             spool: Path | None = None, force_rewrite: bool = False,
             con: duckdb.DuckDBPyConnection | None = None) -> MaintainReport:
    """Archive closed days, apply retention and the budget; called after each ingest.

    With ``con`` (the run's open connection) the part that needs the database closed, a
    rewrite, is left to :func:`finish`, which the caller runs once it has closed it.
    """
    report = MaintainReport(size_before=footprint(db, archive_dir, spool))
    own = con is None
    with store.private_files():
        if con is None:
            con = store.connect(db)
        try:
            free = _maintain(con, db, archive_dir, retention, now, spool, report)
        finally:
            if own:
                con.close()
    if free is None:
        return report  # nothing stored yet
    # Deleted rows leave free blocks that DuckDB reuses but never returns; rewrite the
    # file when they are most of it (and whenever asked).
    report.rewrite_due = force_rewrite or bool(free[1] and free[0] > 0.5 * free[1]
                                               and free[1] > 8)
    if own:
        finish(report, db, archive_dir, spool)
    return report


def finish(report: MaintainReport, db: Path, archive_dir: Path,
           spool: Path | None = None) -> None:
    """What maintenance does with the database closed: the rewrite if due, then the size."""
    if report.rewrite_due:
        rewrite(db)
        report.rewritten = True
    report.size_after = footprint(db, archive_dir, spool)


def _maintain(con: duckdb.DuckDBPyConnection, db: Path, archive_dir: Path,
              retention: Retention, now: dt.datetime, spool: Path | None,
              report: MaintainReport) -> tuple[int, int] | None:
    """The work on an open database; its free and total blocks, or None if it is empty."""
    if not con.execute("SELECT count(*) FROM information_schema.tables "
                       "WHERE table_name = 'table_specs'").fetchone()[0]:
        return None
    cutoff = now.date() - dt.timedelta(days=max(retention.hot_days - 1, 0))
    set_archive_root(con, archive_dir)
    report.swept = sweep(con, archive_dir, now)
    specs = table_specs(con)
    migrate_top(con, archive_dir, specs, now)
    for table, day in _closed_days(con, list(specs), cutoff):
        n = archive_day(con, archive_dir, specs[table], day, now)
        report.archived.append((table, day.isoformat(), n))
    expired = []
    for tier in ("raw", "top", "5m", "1h", "1d"):
        keep = retention.keep_days(tier)
        if keep <= 0:
            continue
        oldest = now.date() - dt.timedelta(days=keep)
        expired += con.execute(
            "SELECT table_name, tier, day, path, bytes FROM archive_files "
            "WHERE tier = ? AND day < ? ORDER BY day", [tier, oldest]).fetchall()
    _drop_files(con, archive_dir, report, expired, "retention", now)
    if retention.max_size is not None:
        _enforce_budget(con, db, archive_dir, spool, retention, report, now)
    free = con.execute("SELECT free_blocks, total_blocks FROM pragma_database_size()").fetchone()
    return (int(free[0]), int(free[1])) if free else (0, 0)


def migrate_top(con: duckdb.DuckDBPyConnection, archive_dir: Path,
                specs: dict[str, TableSpec], now: dt.datetime) -> int:
    """Roll the ``top`` files of the older layout (every poll's top 10 processes, whole
    rows) up into this version's (per host and hour, by user and command), once per
    database: one query of storage_events on every later run. Each file is replaced in
    its own transaction (new file written first, as :func:`archive_day` does); the hours
    are computed from the processes the old file kept. Returns the files migrated."""
    done = con.execute("SELECT count(*) FROM storage_events WHERE action = 'layout' "
                       "AND detail = ?", [TOP_LAYOUT]).fetchone()[0]
    if done:
        return 0
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    moved = 0
    for table in TOP_TABLES:
        if table not in specs:
            continue
        for day, stored, size in con.execute(
                "SELECT day, path, bytes FROM archive_files WHERE table_name = ? AND "
                "tier = 'top' ORDER BY day", [table]).fetchall():
            old = resolve(archive_dir, stored)
            if not old.exists():
                continue  # `onion db check` reports it; nothing to roll up
            names = {r[0] for r in con.execute(
                f"SELECT name FROM parquet_schema({literal(str(old))})").fetchall()}
            if "pid" not in names:
                continue  # already hourly
            new = old.with_name(f"{day.isoformat()}-{stamp}-hourly.parquet")
            source = f"(SELECT * FROM read_parquet({literal(str(old))}))"
            try:
                n = write_parquet(con, top_select(source), _order(specs[table], "top"), new)
                with store.transaction(con):
                    con.execute("UPDATE archive_files SET path = ?, rows = ?, bytes = ? "
                                "WHERE path = ?", [relative(archive_dir, new), n,
                                                   new.stat().st_size, stored])
                    con.execute("INSERT INTO storage_events VALUES (?, 'migrated', ?, 'top', "
                                "?, ?, ?)", [now, table, day, size, TOP_LAYOUT])
                    refresh_views(con, only={table})
            except BaseException:
                new.unlink(missing_ok=True)
                raise
            old.unlink(missing_ok=True)
            moved += 1
    # The views of the hot rows change with the layout too, files or none.
    refresh_views(con, only=set(TOP_TABLES) & set(specs))
    con.execute("INSERT INTO storage_events VALUES (?, 'layout', NULL, 'top', NULL, 0, ?)",
                [now, TOP_LAYOUT])
    return moved


def _closed_days(con: duckdb.DuckDBPyConnection, tables: list[str], cutoff: dt.date
                 ) -> list[tuple[str, dt.date]]:
    """(table, day) of the hot rows older than ``cutoff``, by table, oldest first. One
    statement for every table: this runs after every round, and finds nothing on most."""
    if not tables:
        return []
    before = f"TIMESTAMP {literal(cutoff.isoformat())}"
    each = " UNION ALL ".join(
        f"SELECT DISTINCT {literal(t)} AS t, ts::DATE AS d FROM hot.{ident(t)} "
        f"WHERE ts < {before}" for t in tables)
    return [(t, d) for t, d in con.execute(f"SELECT t, d FROM ({each}) ORDER BY t, d"
                                           ).fetchall()]


def _enforce_budget(con: duckdb.DuckDBPyConnection, db: Path, archive_dir: Path,
                    spool: Path | None, retention: Retention, report: MaintainReport,
                    now: dt.datetime) -> None:
    assert retention.max_size is not None
    total = footprint(db, archive_dir, spool)
    if total <= retention.max_size:
        return
    excess = total - int(retention.max_size * 0.9)  # leave room for the next days' growth
    # Oldest raw days first (their rollups stay), then the finer tiers; never the 1d tier
    # while a finer one is left. Chosen by their catalogued sizes, dropped at once.
    chosen = []
    for tier in ("raw", "top", "5m", "1h", "1d"):
        for row in con.execute("SELECT table_name, tier, day, path, bytes FROM archive_files "
                               "WHERE tier = ? ORDER BY day, table_name", [tier]).fetchall():
            if excess <= 0:
                break
            chosen.append(row)
            excess -= row[4]
    _drop_files(con, archive_dir, report, chosen, "budget", now)


def rewrite(db: Path) -> None:
    """Copy the database into a fresh file and swap it in: gives back free blocks."""
    tmp = db.with_name(db.name + ".compact")
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {literal(str(db))} AS old (READ_ONLY)")
        con.execute(f"ATTACH {literal(str(tmp))} AS new")
        con.execute("COPY FROM DATABASE old TO new")
        con.execute("DETACH old")
        con.execute("DETACH new")
    finally:
        con.close()
    os.chmod(tmp, 0o600)
    os.replace(tmp, db)


def export_parquet(db: Path, out: Path) -> list[Path]:
    """Every sample table as Parquet partitioned by date and host, for other engines."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    # Onion's own writer of files, not a user's query: the database read-only, but not
    # the locked-down connection of the query paths, which may write nowhere.
    con = store.connect(db, read_only=True)
    with contextlib.closing(con):
        for table in table_specs(con):
            target = out / table
            if target.exists():
                shutil.rmtree(target)
            con.execute(f"COPY (SELECT *, ts::DATE AS date FROM {ident(table)}) TO "
                        f"{literal(str(target))} ({PARQUET}, PARTITION_BY (date, host))")
            written.append(target)
    return written


@dataclass(slots=True)
class TableStats:
    table: str
    hot_rows: int
    archived_rows: int
    archive_bytes: int
    samples_per_row: int          # numeric, non-key columns: what a TSDB calls samples
    columns: list[tuple[str, str, int]]  # column, compression/encoding, bytes (archives)

    @property
    def bytes_per_row(self) -> float | None:
        return self.archive_bytes / self.archived_rows if self.archived_rows else None

    @property
    def bytes_per_sample(self) -> float | None:
        per_row = self.bytes_per_row
        return per_row / self.samples_per_row if per_row and self.samples_per_row else None


def stats(db: Path) -> tuple[int, list[TableStats]]:
    """Database file size and, per table, rows and archived bytes per row and per sample."""
    out = []
    with store.reading(db) as con:
        size = con.execute("SELECT total_blocks * block_size FROM pragma_database_size()"
                           ).fetchone()[0]
        for table, spec in table_specs(con).items():
            hot = con.execute(f"SELECT count(*) FROM hot.{ident(table)}").fetchone()[0]
            root = archive_root(con, db)
            files = [str(resolve(root, r[0])) for r in con.execute(
                "SELECT path FROM archive_files WHERE table_name = ? AND tier = 'raw'",
                [table]).fetchall()]
            files = [f for f in files if Path(f).exists()]
            arch_rows, arch_bytes = con.execute(
                "SELECT coalesce(sum(rows), 0), coalesce(sum(bytes), 0) FROM archive_files "
                "WHERE table_name = ? AND tier = 'raw'", [table]).fetchone()
            cols: list[tuple[str, str, int]] = []
            if files:
                listed = ", ".join(literal(f) for f in files)
                cols = [(r[0], r[1], int(r[2])) for r in con.execute(
                    f"SELECT path_in_schema, string_agg(DISTINCT encodings, ' '), "
                    f"sum(total_compressed_size) FROM parquet_metadata([{listed}]) "
                    f"GROUP BY 1 ORDER BY 3 DESC").fetchall()]
            samples = sum(1 for c in spec.columns if c.name not in ("run_id", "host", "ts")
                          and c.name not in spec.key and c.type.is_numeric)
            out.append(TableStats(table, hot, int(arch_rows), int(arch_bytes), samples, cols))
    return size, out


@dataclass(slots=True)
class CheckReport:
    missing: list[str] = field(default_factory=list)     # catalogued, not on disk
    strays: list[str] = field(default_factory=list)      # on disk, not catalogued
    root: str | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.strays


def check(db: Path) -> CheckReport:
    """What ``onion db check`` says: archive files the catalog names that are gone, and
    files in the archive folder it does not name (a maintenance run that was cut)."""
    out = CheckReport()
    con = store.connect(db, read_only=True)
    with contextlib.closing(con):
        root = archive_root(con, db)
        out.root = str(root) if root else None
        named = set()
        for (stored,) in con.execute("SELECT path FROM archive_files ORDER BY path").fetchall():
            path = resolve(root, stored)
            named.add(path.resolve())
            if not path.exists():
                out.missing.append(str(path))
        if root is not None and root.is_dir():
            out.strays = sorted(str(f) for f in root.glob("*/*/*.parquet")
                                if f.resolve() not in named)
    return out
