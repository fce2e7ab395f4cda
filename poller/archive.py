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
    <archive>/processes/top/…                 past the raw window: the top N processes
                                              of each poll by CPU and by memory

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
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from onion.poller.errors import ConfigError, StorageError

TIERS = {"5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}
NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
           "UBIGINT", "FLOAT", "DOUBLE", "HUGEINT"}
# Past its raw window a process table keeps, per host and poll, the top N by these.
THIN_BY = {"processes": ("cpu_pct", "rss_bytes")}
PARQUET = "FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2, ROW_GROUP_SIZE 1000000"


def parse_size(text: str) -> int | None:
    """``"2GB"``, ``"500 MiB"``, ``"0"``/``""`` (no budget) -> bytes."""
    text = text.strip()
    if text in ("", "0"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?", text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"[storage] max_size: cannot read {text!r} (try \"2GB\")")
    base = 1024 if m.group(3) or not m.group(2) else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * base ** power)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def tier_selects(table: str, columns: Sequence[tuple[str, str]], spec: dict[str, Any],
                 source: str | None = None) -> dict[str, str]:
    """SELECTs over a table's rows (default: its hot rows) for each rollup tier it has."""
    hot = source or f"hot.{_q(table)}"
    if table in THIN_BY:
        a, b = THIN_BY[table]
        names = {c[0] for c in columns}
        if {a, b} <= names:
            return {"top": (
                f"SELECT * FROM {hot} QUALIFY "
                f"row_number() OVER (PARTITION BY host, ts ORDER BY {_q(a)} DESC NULLS LAST) <= 10 "
                f"OR row_number() OVER (PARTITION BY host, ts ORDER BY {_q(b)} DESC NULLS LAST) "
                f"<= 10")}
        return {}
    keys = list(spec.get("key") or [])
    counters = set(spec.get("counters") or [])
    exprs = []
    for name, sql in columns:
        if name in ("run_id", "host", "ts") or name in keys or sql.split()[0] not in NUMERIC:
            continue
        if name in counters:
            exprs.append(f"arg_max({_q(name)}, ts) AS {_q(name)}")
        else:
            exprs += [f"min({_q(name)}) AS {_q(name + '_min')}",
                      f"avg({_q(name)}) AS {_q(name + '_avg')}",
                      f"max({_q(name)}) AS {_q(name + '_max')}"]
    if not exprs:
        return {}
    group = ", ".join(_q(c) for c in ["host", *keys])
    return {tier: (f"SELECT {group}, time_bucket(INTERVAL '{width}', ts) AS ts, "
                   f"count(*)::UINTEGER AS samples, {', '.join(exprs)} FROM {hot} "
                   f"GROUP BY ALL")
            for tier, width in TIERS.items()}


@dataclass(slots=True)
class Retention:
    hot_days: int = 1
    raw_days: int = 14
    days_5m: int = 30
    days_1h: int = 365
    days_1d: int = 0          # 0: forever
    max_size: int | None = None

    def keep_days(self, tier: str) -> int:
        return {"raw": self.raw_days, "5m": self.days_5m, "1h": self.days_1h,
                "top": self.days_5m, "1d": self.days_1d}[tier]


@dataclass(slots=True)
class MaintainReport:
    archived: list[tuple[str, str, int]] = field(default_factory=list)  # table, day, rows
    # table, tier, day, bytes, why ("retention" or "budget")
    dropped: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    rewritten: bool = False
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


def _order(spec: dict[str, Any]) -> str:
    return ", ".join(_q(c) for c in ["host", *(spec.get("key") or []), "ts"])


def archive_day(con: duckdb.DuckDBPyConnection, archive_dir: Path, table: str,
                columns: Sequence[tuple[str, str]], spec: dict[str, Any], day: dt.date,
                now: dt.datetime) -> int:
    """Move one closed day of one table out of ``hot`` into its Parquet files."""
    lo, hi = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    where = f"ts >= TIMESTAMP {_lit(lo)} AND ts < TIMESTAMP {_lit(hi)}"
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    written: list[tuple[str, Path, int]] = []
    day_rows = f"(SELECT * FROM hot.{_q(table)} WHERE {where})"
    tiers = {"raw": f"SELECT * FROM {day_rows}",
             **tier_selects(table, columns, spec, source=day_rows)}
    for tier, select in tiers.items():
        folder = archive_dir / table / tier
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{lo}-{stamp}.parquet"
        n = con.execute(f"COPY (SELECT * FROM ({select}) ORDER BY {_order(spec)}) "
                        f"TO {_lit(str(path))} ({PARQUET})").fetchone()[0]
        written.append((tier, path, n))
    rows = written[0][2]
    con.execute("BEGIN TRANSACTION")
    try:
        deleted = con.execute(f"DELETE FROM hot.{_q(table)} WHERE {where}").fetchone()[0]
        if deleted != rows:  # rows arrived between COPY and DELETE: never lose them
            raise StorageError(f"{table} {lo}: wrote {rows} rows, hot had {deleted}")
        for tier, path, n in written:
            con.execute("INSERT INTO archive_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [table, tier, day, str(path), n, path.stat().st_size, now])
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        for _, path, _ in written:
            path.unlink(missing_ok=True)
        raise
    return rows


def _drop_file(con: duckdb.DuckDBPyConnection, report: MaintainReport, row: tuple[Any, ...],
               action: str, now: dt.datetime) -> None:
    table, tier, day, path, size = row
    con.execute("DELETE FROM archive_files WHERE path = ?", [path])
    con.execute("INSERT INTO storage_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [now, action, table, tier, day, size, path])
    Path(path).unlink(missing_ok=True)
    report.dropped.append((table, tier, str(day), size, action))


def maintain(db: Path, archive_dir: Path, retention: Retention, now: dt.datetime,
             spool: Path | None = None, force_rewrite: bool = False,
             con: duckdb.DuckDBPyConnection | None = None) -> MaintainReport:
    """Archive closed days, apply retention and the budget; called after each ingest.

    With ``con`` (the run's open connection) the part that needs the database closed, a
    rewrite, is left to :func:`finish`, which the caller runs once it has closed it.
    """
    from onion.poller import store

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
    from onion.poller import store

    if not con.execute("SELECT count(*) FROM information_schema.tables "
                       "WHERE table_name = 'table_specs'").fetchone()[0]:
        return None
    cutoff = now.date() - dt.timedelta(days=max(retention.hot_days - 1, 0))
    specs = store.table_specs(con)
    changed = False
    for table, (columns, spec) in specs.items():
        days = [r[0] for r in con.execute(
            f"SELECT DISTINCT ts::DATE FROM hot.{_q(table)} "
            f"WHERE ts < TIMESTAMP {_lit(cutoff.isoformat())} ORDER BY 1").fetchall()]
        for day in days:
            n = archive_day(con, archive_dir, table, columns, spec, day, now)
            report.archived.append((table, day.isoformat(), n))
            changed = True
    for tier in ("raw", "top", "5m", "1h", "1d"):
        keep = retention.keep_days(tier)
        if keep <= 0:
            continue
        oldest = now.date() - dt.timedelta(days=keep)
        for row in con.execute(
                "SELECT table_name, tier, day, path, bytes FROM archive_files "
                "WHERE tier = ? AND day < ? ORDER BY day", [tier, oldest]).fetchall():
            _drop_file(con, report, row, "retention", now)
            changed = True
    if retention.max_size is not None:
        changed |= _enforce_budget(con, db, archive_dir, spool, retention, report, now)
    if changed:
        store.refresh_views(con)
    free = con.execute("SELECT free_blocks, total_blocks FROM pragma_database_size()").fetchone()
    return (int(free[0]), int(free[1])) if free else (0, 0)


def _enforce_budget(con: duckdb.DuckDBPyConnection, db: Path, archive_dir: Path,
                    spool: Path | None, retention: Retention, report: MaintainReport,
                    now: dt.datetime) -> bool:
    assert retention.max_size is not None
    target = int(retention.max_size * 0.9)  # leave room for the next days' growth
    if footprint(db, archive_dir, spool) <= retention.max_size:
        return False
    changed = False
    # Oldest raw days first (their rollups stay), then the finer tiers; never the 1d tier
    # while a finer one is left.
    for tier in ("raw", "top", "5m", "1h", "1d"):
        rows = con.execute("SELECT table_name, tier, day, path, bytes FROM archive_files "
                           "WHERE tier = ? ORDER BY day, table_name", [tier]).fetchall()
        for row in rows:
            if footprint(db, archive_dir, spool) <= target:
                return changed
            _drop_file(con, report, row, "budget", now)
            changed = True
    return changed


def rewrite(db: Path) -> None:
    """Copy the database into a fresh file and swap it in: gives back free blocks."""
    tmp = db.with_name(db.name + ".compact")
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_lit(str(db))} AS old (READ_ONLY)")
        con.execute(f"ATTACH {_lit(str(tmp))} AS new")
        con.execute("COPY FROM DATABASE old TO new")
        con.execute("DETACH old")
        con.execute("DETACH new")
    finally:
        con.close()
    os.chmod(tmp, 0o600)
    os.replace(tmp, db)


def export_parquet(db: Path, out: Path) -> list[Path]:
    """Every sample table as Parquet partitioned by date and host, for other engines."""
    from onion.poller import store

    written = []
    out.mkdir(parents=True, exist_ok=True)
    with store.reading(db) as con:
        for table in store.table_specs(con):
            target = out / table
            if target.exists():
                shutil.rmtree(target)
            con.execute(f"COPY (SELECT *, ts::DATE AS date FROM {_q(table)}) TO "
                        f"{_lit(str(target))} ({PARQUET}, PARTITION_BY (date, host))")
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
    from onion.poller import store

    out = []
    with store.reading(db) as con:
        size = con.execute("SELECT total_blocks * block_size FROM pragma_database_size()"
                           ).fetchone()[0]
        for table, (columns, spec) in store.table_specs(con).items():
            hot = con.execute(f"SELECT count(*) FROM hot.{_q(table)}").fetchone()[0]
            files = [r[0] for r in con.execute(
                "SELECT path FROM archive_files WHERE table_name = ? AND tier = 'raw'",
                [table]).fetchall()]
            arch_rows, arch_bytes = con.execute(
                "SELECT coalesce(sum(rows), 0), coalesce(sum(bytes), 0) FROM archive_files "
                "WHERE table_name = ? AND tier = 'raw'", [table]).fetchone()
            cols: list[tuple[str, str, int]] = []
            if files:
                listed = ", ".join(_lit(f) for f in files)
                cols = [(r[0], r[1], int(r[2])) for r in con.execute(
                    f"SELECT path_in_schema, string_agg(DISTINCT encodings, ' '), "
                    f"sum(total_compressed_size) FROM parquet_metadata([{listed}]) "
                    f"GROUP BY 1 ORDER BY 3 DESC").fetchall()]
            samples = sum(1 for n, t in columns if n not in ("run_id", "host", "ts")
                          and n not in (spec.get("key") or []) and t.split()[0] in NUMERIC)
            out.append(TableStats(table, hot, int(arch_rows), int(arch_bytes), samples, cols))
    return size, out
