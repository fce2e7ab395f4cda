"""DuckDB storage: one writer, one transaction per run, nothing lost when it is locked.

Every run first writes its batch to the spool folder (one JSON-lines file per table and
a manifest), then ingests every pending batch, oldest first, each in one transaction,
and deletes a batch once committed. A database held by someone else (a person's SQL
session, another process) leaves the batch in the spool for the next run; a run killed
mid-write leaves either no trace in the database or a batch the next run ingests.
A batch whose run_id is already in ``runs`` was committed before a crash: it is dropped,
never ingested twice.

Tables: ``runs``, ``polls`` (one row per host per run: status, reason, timings),
``probe_results`` (per probe: ok, unavailable, unsupported, parse_error …), ``hosts``
(inventory with last status), one table per probe, ``latest_<table>`` views and
``<table>_rates`` views for probes with counters (window functions; a counter that went
down was reset, e.g. by a reboot, and counts from zero).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from onion.poller.errors import DatabaseLocked, StorageError
from onion.probes.base import Column, Probe

RUN_COLUMNS = [
    ("run_id", "UBIGINT"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
    ("wall_s", "DOUBLE"), ("hosts", "UINTEGER"), ("hosts_ok", "UINTEGER"),
    ("cpu_user_s", "DOUBLE"), ("cpu_system_s", "DOUBLE"), ("peak_rss_bytes", "UBIGINT"),
    ("version", "VARCHAR"), ("argv", "VARCHAR"),
]
POLL_COLUMNS = [
    ("run_id", "UBIGINT"), ("host", "VARCHAR"), ("ts", "TIMESTAMP"), ("status", "VARCHAR"),
    ("reason", "VARCHAR"), ("os", "VARCHAR"), ("uname", "VARCHAR"), ("connect_s", "FLOAT"),
    ("command_s", "FLOAT"), ("bytes_read", "UBIGINT"), ("host_key", "VARCHAR"),
]
PROBE_RESULT_COLUMNS = [
    ("run_id", "UBIGINT"), ("host", "VARCHAR"), ("ts", "TIMESTAMP"), ("probe", "VARCHAR"),
    ("status", "VARCHAR"), ("reason", "VARCHAR"), ("records", "UINTEGER"),
]
HOST_COLUMNS = [
    ("host", "VARCHAR PRIMARY KEY"), ("address", "VARCHAR"), ("port", "INTEGER"),
    ("user", "VARCHAR"), ("groups", "VARCHAR[]"), ("os", "VARCHAR"),
    ("first_seen", "TIMESTAMP"), ("last_seen", "TIMESTAMP"), ("last_ok", "TIMESTAMP"),
    ("last_status", "VARCHAR"), ("last_reason", "VARCHAR"),
]
ROW_PREFIX = [("run_id", "UBIGINT"), ("host", "VARCHAR"), ("ts", "TIMESTAMP")]


def probe_table_columns(probe: Probe) -> list[tuple[str, str]]:
    return ROW_PREFIX + [(c.name, c.sql) for c in probe.columns]


@dataclass(slots=True)
class Batch:
    """One run's rows, table by table and column by column, on their way to the database.

    Columns, not row dicts: DuckDB reads them from numpy object arrays at C speed,
    which is most of what storing costs per host (see bench/poll.py).
    """

    run_id: int
    tables: dict[str, list[tuple[str, str]]]       # table -> columns (name, SQL type)
    data: dict[str, dict[str, list[Any]]]          # table -> column -> values
    counters: dict[str, dict[str, Any]]            # table -> {"key": [...], "counters": [...]}

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """The same data as row dicts (the spool's JSON lines)."""
        out = {}
        for table, cols in self.data.items():
            names = list(cols)
            out[table] = [dict(zip(names, values, strict=True))
                          for values in zip(*cols.values(), strict=True)] if names else []
        return out


def _jsonable(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, batch: Batch) -> Path:
        """Write a batch whole (temp name, then rename) so a crash never leaves half of one."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.folder / f"{batch.run_id:020d}"
        tmp = self.folder / f".{batch.run_id:020d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        try:
            for table, rows in batch.rows.items():
                fd = os.open(tmp / f"{table}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    dumps = json.dumps
                    f.writelines(dumps(r, default=_jsonable) + "\n" for r in rows)
            manifest = {"run_id": batch.run_id, "tables": batch.tables,
                        "counters": batch.counters}
            (tmp / "manifest.json").write_text(json.dumps(manifest))
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StorageError(f"cannot write the spool batch in {self.folder}: {exc}") from exc
        return final

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database; a lock held elsewhere becomes DatabaseLocked."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise StorageError(f"no database at {path} yet: run `onion poll` first")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLocked(f"{path} is locked by another process: {exc}") from exc
        raise StorageError(f"cannot open {path}: {exc}") from exc
    # No replacement scans: a table name in SQL must never resolve to a Python variable
    # (batches are registered by name, explicitly).
    con.execute("SET python_enable_replacements = false")
    return con


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created inside (database, WAL, spool) are 0600: they hold command lines."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ensure_table(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                  columns: Sequence[tuple[str, str]]) -> None:
    cols = ", ".join(f"{_q(n)} {t}" for n, t in columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{_q(table)} ({cols})")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall()}
    for n, t in columns:
        if n not in have:  # a probe grew a field: old rows read NULL
            sql_type = t.replace(" PRIMARY KEY", "")
            con.execute(f"ALTER TABLE {schema}.{_q(table)} ADD COLUMN {_q(n)} {sql_type}")


def _json_columns(columns: Sequence[tuple[str, str]]) -> str:
    inner = ", ".join(f"'{n}': '{t.replace(' PRIMARY KEY', '')}'" for n, t in columns)
    return "{" + inner + "}"


def _rate_view(table: str, key: Sequence[str], counters: Sequence[str]) -> str:
    part = ", ".join(_q(c) for c in ["host", *key])
    dt = "(epoch(ts) - epoch(lag(ts) OVER w))"
    rates = ",\n  ".join(
        f"CASE WHEN {_q(c)} >= lag({_q(c)}) OVER w "
        f"THEN {_q(c)}::DOUBLE - lag({_q(c)}) OVER w ELSE {_q(c)}::DOUBLE END "
        f"/ NULLIF({dt}, 0) AS {_q(c + '_per_s')}"
        for c in counters)
    keys = "".join(_q(k) + ", " for k in key)
    return (f"CREATE OR REPLACE VIEW {_q(table + '_rates')} AS\n"
            f"SELECT run_id, host, {keys}ts, {dt} AS interval_s,\n  {rates}\n"
            f"FROM {_q(table)}\nWINDOW w AS (PARTITION BY {part} ORDER BY ts)\n"
            f"QUALIFY lag(ts) OVER w IS NOT NULL")


# Sample tables live in schema ``hot`` until their day is archived to Parquet; the
# table name users query is a view over both (see poller.archive).
HOT = "hot"
SPEC_COLUMNS = [("name", "VARCHAR PRIMARY KEY"), ("columns", "VARCHAR"), ("spec", "VARCHAR")]
CATALOG_COLUMNS = [
    ("table_name", "VARCHAR"), ("tier", "VARCHAR"), ("day", "DATE"), ("path", "VARCHAR"),
    ("rows", "UBIGINT"), ("bytes", "UBIGINT"), ("created", "TIMESTAMP"),
]
EVENT_COLUMNS = [("ts", "TIMESTAMP"), ("action", "VARCHAR"), ("table_name", "VARCHAR"),
                 ("tier", "VARCHAR"), ("day", "DATE"), ("bytes", "UBIGINT"),
                 ("detail", "VARCHAR")]
ARCHIVED_CORE = {"polls": POLL_COLUMNS, "probe_results": PROBE_RESULT_COLUMNS}
CORE_SPECS = {"polls": {"key": [], "counters": [], "views": {}},
              "probe_results": {"key": ["probe"], "counters": [], "views": {}}}


def _migrate_to_hot(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """A sample table from before the hot schema existed moves there, rows included."""
    kind = con.execute("SELECT table_type FROM information_schema.tables "
                       "WHERE table_schema = 'main' AND table_name = ?", [table]).fetchone()
    if kind and kind[0] == "BASE TABLE":
        con.execute(f"CREATE TABLE {HOT}.{_q(table)} AS SELECT * FROM main.{_q(table)}")
        con.execute(f"DROP TABLE main.{_q(table)}")


def ensure_schema(con: duckdb.DuckDBPyConnection, tables: dict[str, Any],
                  counters: dict[str, dict[str, Any]]) -> None:
    """Tables, catalog and views for these sample tables (and the core ones)."""
    specs = {**{t: (c, CORE_SPECS[t]) for t, c in ARCHIVED_CORE.items()},
             **{t: ([tuple(x) for x in c], counters.get(t) or {}) for t, c in tables.items()}}
    wanted = {t: (json.dumps(c), json.dumps(s)) for t, (c, s) in specs.items()}
    have = {}
    if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                   "AND table_name = 'table_specs'").fetchone()[0]:
        have = {n: (c, s) for n, c, s in con.execute(
            "SELECT name, columns, spec FROM table_specs").fetchall()}
    if all(have.get(t) == w for t, w in wanted.items()):
        return  # the usual case: nothing changed since the last run
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {HOT}")
    for table, columns in {"runs": RUN_COLUMNS, "hosts": HOST_COLUMNS,
                           "table_specs": SPEC_COLUMNS, "archive_files": CATALOG_COLUMNS,
                           "storage_events": EVENT_COLUMNS}.items():
        _ensure_table(con, "main", table, columns)
    for table, (columns, spec) in specs.items():
        _migrate_to_hot(con, table)
        _ensure_table(con, HOT, table, columns)
        con.execute("INSERT OR REPLACE INTO table_specs VALUES (?, ?, ?)",
                    [table, json.dumps(columns), json.dumps(spec)])
    refresh_views(con)


def table_specs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[list[tuple[str, str]],
                                                                  dict[str, Any]]]:
    return {name: ([tuple(c) for c in json.loads(cols)], json.loads(spec))
            for name, cols, spec in con.execute(
                "SELECT name, columns, spec FROM table_specs ORDER BY name").fetchall()}


def _union(con: duckdb.DuckDBPyConnection, table: str, tier: str, hot_select: str) -> str:
    files = [r[0] for r in con.execute(
        "SELECT path FROM archive_files WHERE table_name = ? AND tier = ? ORDER BY day, path",
        [table, tier]).fetchall()]
    if not files:
        return hot_select
    listed = ", ".join(_sql_str(f) for f in files)
    return (f"{hot_select}\nUNION ALL BY NAME\n"
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)")


def refresh_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every view: after a schema change, and whenever archive files change."""
    from onion.poller import archive  # the tiers' SQL lives with the code that writes them

    specs = table_specs(con)
    for table, (columns, spec) in specs.items():
        con.execute(f"CREATE OR REPLACE VIEW main.{_q(table)} AS "
                    + _union(con, table, "raw", f"SELECT * FROM {HOT}.{_q(table)}"))
        # Newest rows per host, from the hot schema (the last day or two): cheap to ask.
        con.execute(f"CREATE OR REPLACE VIEW {_q('latest_' + table)} AS SELECT * FROM "
                    f"{HOT}.{_q(table)} QUALIFY run_id = max(run_id) OVER (PARTITION BY host)")
        if spec.get("counters"):
            con.execute(_rate_view(table, spec["key"], spec["counters"]))
        for tier, select in archive.tier_selects(table, columns, spec).items():
            con.execute(f"CREATE OR REPLACE VIEW {_q(table + '_' + tier)} AS "
                        + _union(con, table, tier, select))
    for _table, (_columns, spec) in specs.items():
        for name, select in spec.get("views", {}).items():
            con.execute(f"CREATE OR REPLACE VIEW {_q(name)} AS {select}")


# numpy dtypes DuckDB scans at memory speed; anything else goes as Python objects. FLOAT
# goes as float64: DuckDB refuses a value out of its range, where numpy would make it inf.
_NUMPY = {"TINYINT": np.int8, "SMALLINT": np.int16, "INTEGER": np.int32, "BIGINT": np.int64,
          "UTINYINT": np.uint8, "USMALLINT": np.uint16, "UINTEGER": np.uint32,
          "UBIGINT": np.uint64, "FLOAT": np.float64, "DOUBLE": np.float64}  # DuckDB narrows
_NAT = np.datetime64("NaT", "us")


def _timestamps(values: Sequence[Any]) -> np.ndarray:
    """Naive-UTC datetimes as datetime64[us]. DuckDB converts datetime objects one by one
    (0.12 s of CPU per 160,000 rows here, 0.02 s this way); a run's rows share a few
    timestamps, so each is converted once."""
    out = []
    prev: Any = object()
    conv: Any = _NAT
    for v in values:
        if v is not prev:
            prev = v
            if v is None:
                conv = _NAT
            else:
                if v.tzinfo is not None:
                    v = v.astimezone(dt.UTC).replace(tzinfo=None)
                conv = np.datetime64(v, "us")
        out.append(conv)
    return np.array(out, dtype="datetime64[us]")


# Below this many rows typed arrays save nothing measurable (an insert of 256 rows costs
# the same either way here, 4096 rows 10 % less typed); objects are the safer path.
TYPED_MIN_ROWS = 256


@functools.cache
def _iinfo(dtype: np.dtype) -> np.iinfo:
    return np.iinfo(dtype)


def _typed(values: list[Any], dtype: Any) -> np.ndarray:
    """A typed array, masked where a value is NULL (DuckDB reads the mask as NULL).
    Raises where a value is not a number of that kind or does not fit its type."""
    mask = None
    if None in values:
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        values = [0 if v is None else v for v in values]
    arr = np.array(values)  # numpy infers: a float or str among ints shows in its dtype
    want = np.dtype(dtype)
    if arr.dtype.kind not in ("iu" if want.kind in "iu" else "iuf"):
        raise TypeError(f"{arr.dtype} values for a {want} column")
    if want.kind in "iu" and arr.size:
        info = _iinfo(want)
        if arr.min() < info.min or arr.max() > info.max:
            raise OverflowError(f"value out of range for {want}")
    arr = arr.astype(want)
    return arr if mask is None else np.ma.masked_array(arr, mask=mask)


def _arrays(columns: Sequence[tuple[str, str]], data: dict[str, list[Any]]
            ) -> dict[str, np.ndarray]:
    out = {}
    n = len(next(iter(data.values()), []))
    for name, sql in columns:
        values = data.get(name)
        if values is None:
            values = [None] * n
        arr: np.ndarray | None = None
        if sql in _NUMPY and len(values) >= TYPED_MIN_ROWS and not isinstance(values[0], bool):
            try:
                arr = _typed(values, _NUMPY[sql])
            except (TypeError, ValueError, OverflowError):
                arr = None  # not plain numbers: DuckDB's own conversion says what is wrong
        elif sql == "TIMESTAMP" and all(isinstance(v, dt.datetime | None) for v in values[:1]):
            try:
                arr = _timestamps(values)
            except (TypeError, AttributeError, ValueError):
                arr = None
        if arr is not None:
            out[name] = arr
        elif sql.endswith("[]"):
            # Lists must stay one object per row, whatever their lengths.
            arr = np.empty(len(values), dtype=object)
            for i, v in enumerate(values):
                arr[i] = v
            out[name] = arr
        else:
            out[name] = np.array(values, dtype=object)
    return out


def insert_rows(con: duckdb.DuckDBPyConnection, table: str,
                columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT many rows at C speed (``executemany`` costs milliseconds per row)."""
    if not rows:
        return
    data = {name: list(values)
            for (name, _), values in zip(columns, zip(*rows, strict=True), strict=True)}
    name = "_onion_rows"
    con.register(name, _arrays(columns, data))
    try:
        names = ", ".join(_q(c[0]) for c in columns)
        con.execute(f"INSERT INTO {_q(table)} ({names}) SELECT {names} FROM {name}")
    finally:
        con.unregister(name)


def _ingest(con: duckdb.DuckDBPyConnection, run_id: int, tables: dict[str, Any],
            counters: dict[str, Any], source: Any) -> bool:
    """One run into the database in one transaction; False if it was already there.

    ``source(table, columns)`` gives the SQL relation of that table's rows, or None.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_schema(con, tables, counters)
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            con.execute("ROLLBACK")
            return False
        for table, columns in {"runs": RUN_COLUMNS, "hosts": HOST_COLUMNS, **ARCHIVED_CORE,
                               **tables}.items():
            src = source(table, columns)
            if src is None:
                continue
            names = ", ".join(_q(c[0]) for c in columns)
            if table == "hosts":
                updates = ", ".join(f"{_q(c[0])} = excluded.{_q(c[0])}" for c in columns
                                    if c[0] not in ("host", "first_seen", "last_ok"))
                con.execute(f"INSERT INTO hosts ({names}) SELECT {names} FROM {src} "
                            f"ON CONFLICT (host) DO UPDATE SET {updates}, "
                            f"last_ok = coalesce(excluded.last_ok, hosts.last_ok)")
            else:
                schema = "main" if table == "runs" else HOT
                con.execute(f"INSERT INTO {schema}.{_q(table)} ({names}) "
                            f"SELECT {names} FROM {src}")
        con.execute("COMMIT")
    except Exception:
        # A failed COMMIT (disk full) has already ended the transaction: keep its error.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return True


def _ingest_folder(con: duckdb.DuckDBPyConnection, folder: Path) -> bool:
    manifest = json.loads((folder / "manifest.json").read_text())

    def source(table: str, columns: Sequence[tuple[str, str]]) -> str | None:
        path = folder / f"{table}.jsonl"
        if not path.exists() or path.stat().st_size == 0:
            return None
        return (f"read_json({_sql_str(str(path))}, format='newline_delimited', "
                f"columns={_json_columns(columns)})")

    return _ingest(con, manifest["run_id"], manifest["tables"], manifest.get("counters", {}),
                   source)


def _ingest_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> bool:
    registered: list[str] = []

    def source(table: str, columns: Sequence[tuple[str, str]]) -> str | None:
        data = batch.data.get(table)
        if not data or not next(iter(data.values()), None):
            return None
        name = f"_onion_batch_{len(registered)}"
        con.register(name, _arrays(columns, data))
        registered.append(name)
        return name

    try:
        return _ingest(con, batch.run_id, batch.tables, batch.counters, source)
    finally:
        for name in registered:
            con.unregister(name)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass(slots=True)
class IngestReport:
    ingested: list[int]
    skipped: list[int]          # already in the database (crash after commit)
    locked: bool = False
    error: str | None = None


def ingest(db: Path, spool: Spool, batch: Batch | None = None) -> IngestReport:
    """Store this run's batch (if given) after every batch still waiting in the spool.

    A locked database, or one that fails the write, sends the batch to the spool, where
    the next run finds it: nothing is lost.
    """
    report, con = ingest_and_keep(db, spool, batch)
    if con is not None:
        con.close()
    return report


def ingest_and_keep(db: Path, spool: Spool, batch: Batch | None = None
                    ) -> tuple[IngestReport, duckdb.DuckDBPyConnection | None]:
    """:func:`ingest`, leaving the connection open (checkpointed) for the run's next steps,
    which saves opening the database again; None where it could not be opened. The caller
    closes it."""
    report = IngestReport([], [])
    batches = spool.pending()
    if not batches and batch is None:
        return report, None
    try:
        with private_files():
            con = connect(db)
    except (DatabaseLocked, StorageError) as exc:
        report.locked, report.error = isinstance(exc, DatabaseLocked), str(exc)
        if batch is not None:
            with private_files():
                spool.put(batch)
        return report, None
    try:
        for folder in batches:
            run_id = int(folder.name)
            try:
                with private_files():
                    done = _ingest_folder(con, folder)
            except (duckdb.Error, OSError, json.JSONDecodeError) as exc:
                report.error = f"batch {folder.name} stays in the spool: {exc}"
                break
            (report.ingested if done else report.skipped).append(run_id)
            shutil.rmtree(folder, ignore_errors=True)
        if batch is not None:
            try:
                with private_files():
                    done = _ingest_batch(con, batch)
                (report.ingested if done else report.skipped).append(batch.run_id)
            except duckdb.Error as exc:
                with private_files():
                    spool.put(batch)
                report.error = f"this run's batch waits in the spool: {exc}"
        # Into the file now, as closing would: the WAL holds the batch uncompressed, and
        # the storage budget must not count it twice. Committed either way.
        with private_files(), contextlib.suppress(duckdb.Error):
            con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        raise
    return report, con


def columns_for(probe: Probe) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    cols: list[Column] = probe.columns
    return probe_table_columns(probe), {
        "key": [c.name for c in cols if c.key],
        "counters": [c.name for c in cols if c.counter],
        "views": dict(probe.views),
    }
