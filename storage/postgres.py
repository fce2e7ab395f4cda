"""PostgreSQL as a store of the fleet's rows (a central's, typically): psycopg 3, COPY.

    [sinks.pg]
    type = "postgresql"
    dsn = "postgresql://onion@db.example.org:5432/onion"
    password_file = "/etc/onion/pg.password"   # or a password in the dsn, or ~/.pgpass
    schema = "onion"                           # created if missing
    connect_timeout = "10s"
    sslmode = "verify-full"                    # with sslrootcert, for a server elsewhere
    sslrootcert = ""

- A batch is one transaction: its rows go in with COPY, and its id into the
  ``_onion_batches`` ledger in the same transaction, so a batch handed over again is not
  stored twice (the second answer is DUPLICATE) and a failure leaves nothing behind.
- Sample tables are partitioned by day on ``ts`` (a partition per day, made as days
  arrive; old days are dropped as a whole with ``DROP TABLE``), indexed on (host, ts).
  ``hosts`` keeps one row per host.
- Values survive exactly: an unsigned 64-bit counter is ``NUMERIC(20,0)`` (PostgreSQL has
  no unsigned types), other unsigned types the next wider signed one, ``FLOAT`` is
  ``REAL``, timestamps ``TIMESTAMP`` (naive UTC), lists ``TEXT[]``.
- Tables and columns a batch brings that are not there are added (old rows read NULL).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from onion.core import duration
from onion.core.errors import ConfigError, SinkError
from onion.core.types import LogicalType as T
from onion.storage.batch import Batch
from onion.storage.schema import CORE, SAMPLED_CORE, TableSpec
from onion.storage.sink import Health, SinkContext, Written, check_keys, read_secret

try:  # an optional extra: onion-poller[postgresql]
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - said when such a sink is configured
    psycopg = None  # type: ignore[assignment]
    sql = None  # type: ignore[assignment]

LEDGER = "_onion_batches"
KNOWN = {"dsn", "password_file", "schema", "connect_timeout", "sslmode", "sslrootcert"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
PG_TYPES = {
    T.BOOLEAN: "BOOLEAN", T.TINYINT: "SMALLINT", T.SMALLINT: "SMALLINT",
    T.INTEGER: "INTEGER", T.BIGINT: "BIGINT", T.UTINYINT: "SMALLINT",
    T.USMALLINT: "INTEGER", T.UINTEGER: "BIGINT", T.UBIGINT: "NUMERIC(20,0)",
    T.FLOAT: "REAL", T.DOUBLE: "DOUBLE PRECISION", T.VARCHAR: "TEXT",
    T.TIMESTAMP: "TIMESTAMP", T.VARCHAR_LIST: "TEXT[]",
}


def _safe(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise SinkError(f"{what} {name!r} cannot name a PostgreSQL table or column")
    return name


class PostgresSink:
    kind = "postgresql"

    def __init__(self, name: str, dsn: str, password: str | None = None,
                 schema: str = "onion", connect_timeout: float = 10.0,
                 tls: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.dsn = dsn
        self.password = password
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.tls = dict(tls or {})
        self.con: Any = None
        self._columns: dict[str, set[str]] = {}   # table -> columns, as last read
        self._days: dict[str, set[dt.date]] = {}  # table -> partitions known to exist

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> PostgresSink:
        where = f"[sinks.{name}]"
        check_keys(table, KNOWN, where)
        if psycopg is None:
            raise ConfigError(f"{where}: PostgreSQL needs psycopg: pip install "
                              "'onion-poller[postgresql]'")
        dsn = table.get("dsn")
        if not isinstance(dsn, str) or urlsplit(dsn).scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"{where} dsn must be postgresql://USER@HOST:PORT/DB, "
                              f"not {dsn!r}")
        password = read_secret(table, "password_file", context, where)
        schema = table.get("schema", "onion")
        if not isinstance(schema, str) or not _NAME.fullmatch(schema):
            raise ConfigError(f"{where} schema must be a plain name, not {schema!r}")
        timeout = duration.parse(str(table.get("connect_timeout", "10s")),
                                 f"{where} connect_timeout").total_seconds()
        tls = {k: str(table[k]) for k in ("sslmode", "sslrootcert") if table.get(k)}
        return cls(name, dsn, password, schema, max(timeout, 1.0), tls)

    @property
    def where(self) -> str:
        u = urlsplit(self.dsn)
        return f"postgresql://{u.hostname or ''}:{u.port or 5432}{u.path}"  # no password

    # -- the contract -------------------------------------------------------------------

    def open(self) -> None:
        if self.con is not None and not self.con.closed:
            return
        try:
            self.con = psycopg.connect(self.dsn, password=self.password,
                                       connect_timeout=int(self.connect_timeout),
                                       application_name="onion", **self.tls)
        except psycopg.Error as exc:
            raise SinkError(f"{self.where}: {_reason(exc)}") from exc
        self._columns.clear()
        self._days.clear()

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        self.open()
        try:
            with self.con.transaction():
                self._ensure(tables)
        except psycopg.Error as exc:
            raise SinkError(f"{self.where}: {_reason(exc)}") from exc

    def write(self, batch: Batch) -> Written:
        self.open()
        try:
            with self.con.transaction():
                self._ensure({**CORE, **batch.tables})
                cur = self.con.execute(
                    sql.SQL("INSERT INTO {}.{} VALUES (%s, now(), %s) ON CONFLICT DO NOTHING "
                            "RETURNING batch_id").format(sql.Identifier(self.schema),
                                                         sql.Identifier(LEDGER)),
                    [batch.batch_id, sum(batch.row_count(t) for t in batch.data)])
                if cur.fetchone() is None:
                    return Written.DUPLICATE   # the transaction ends with nothing written
                for table, spec in {**CORE, **batch.tables}.items():
                    if batch.row_count(table):
                        self._rows(spec, batch.data[table])
        except psycopg.Error as exc:
            self._columns.clear()   # the transaction is gone: what we knew may be wrong
            self._days.clear()
            raise SinkError(f"{self.where}: {type(exc).__name__}: {_reason(exc)}") from exc
        return Written.STORED

    def health(self) -> Health:
        try:
            self.open()
            self.con.execute("SELECT 1")
        except (SinkError, psycopg.Error) as exc:
            return Health(False, str(exc))
        return Health(True, self.where)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    # -- tables ---------------------------------------------------------------------------

    def _ensure(self, tables: Mapping[str, TableSpec]) -> None:
        s = sql.Identifier(self.schema)
        if not self._columns:
            self.con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} (batch_id TEXT PRIMARY "
                                     "KEY, stored_at TIMESTAMPTZ NOT NULL, rows BIGINT)")
                             .format(s, sql.Identifier(LEDGER)))
            for t, c in self.con.execute("SELECT table_name, column_name FROM "
                                         "information_schema.columns WHERE table_schema = %s",
                                         [self.schema]).fetchall():
                self._columns.setdefault(t, set()).add(c)
        for name, spec in tables.items():
            _safe(name, "table")
            have = self._columns.get(name)
            if have is None:
                self._create(spec)
                continue
            for c in spec.columns:
                if c.name not in have:
                    self.con.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} {}")
                                     .format(s, sql.Identifier(name),
                                             sql.Identifier(_safe(c.name, "column")),
                                             sql.SQL(PG_TYPES[c.type])))
                    have.add(c.name)

    def _create(self, spec: TableSpec) -> None:
        s, t = sql.Identifier(self.schema), sql.Identifier(spec.name)
        cols = sql.SQL(", ").join(sql.SQL("{} {}").format(
            sql.Identifier(_safe(c.name, "column")), sql.SQL(PG_TYPES[c.type]))
            for c in spec.columns)
        partitioned = _partitioned(spec)
        if spec.upsert_key:
            key = sql.SQL(", ").join(map(sql.Identifier, spec.upsert_key))
            self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({}, PRIMARY KEY ({}))")
                             .format(s, t, cols, key))
        elif partitioned:
            self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({}) PARTITION BY "
                                     "RANGE (ts)").format(s, t, cols))
            # Rows without a day of their own (no ts) land here rather than fail the batch.
            self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.{} "
                                     "DEFAULT").format(
                s, sql.Identifier(f"{spec.name}_default"), s, t))
            self.con.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (host, ts)")
                             .format(sql.Identifier(f"{spec.name}_host_ts"), s, t))
        else:
            self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({})").format(s, t, cols))
        self._columns[spec.name] = set(spec.names)

    def _partition(self, table: str, day: dt.date) -> None:
        known = self._days.setdefault(table, set())
        if day in known:
            return
        s = sql.Identifier(self.schema)
        # DDL takes no parameters: the bounds as literals (dates, nothing from a user).
        self.con.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.{} FOR "
                                 "VALUES FROM ({}) TO ({})").format(
            s, sql.Identifier(f"{table}_{day:%Y%m%d}"), s, sql.Identifier(table),
            sql.Literal(f"{day.isoformat()} 00:00:00"),
            sql.Literal(f"{(day + dt.timedelta(days=1)).isoformat()} 00:00:00")))
        known.add(day)

    # -- rows -----------------------------------------------------------------------------

    def _rows(self, spec: TableSpec, data: Mapping[str, Sequence[Any]]) -> None:
        names = [c.name for c in spec.columns if c.name in data]
        columns = [data[n] for n in names]
        if _partitioned(spec) and "ts" in data:
            for day in {v.date() for v in data["ts"] if isinstance(v, dt.datetime)}:
                self._partition(spec.name, day)
        s, t = sql.Identifier(self.schema), sql.Identifier(spec.name)
        idents = sql.SQL(", ").join(map(sql.Identifier, names))
        rows = zip(*columns, strict=True)
        if spec.upsert_key:
            keep = set(spec.upsert_key) | {"first_seen", "last_ok"}
            sets = [sql.SQL("{} = excluded.{}").format(sql.Identifier(n), sql.Identifier(n))
                    for n in names if n not in keep]
            if "last_ok" in names:  # the last good poll's time outlives failed ones
                sets.append(sql.SQL("last_ok = coalesce(excluded.last_ok, {}.last_ok)")
                            .format(t))
            query = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({}) ON CONFLICT ({}) DO {}").format(
                s, t, idents, sql.SQL(", ").join(sql.Placeholder() * len(names)),
                sql.SQL(", ").join(map(sql.Identifier, spec.upsert_key)),
                sql.SQL("UPDATE SET ") + sql.SQL(", ").join(sets) if sets
                else sql.SQL("NOTHING"))
            with self.con.cursor() as cur:
                cur.executemany(query, list(rows))
            return
        with self.con.cursor() as cur:
            with cur.copy(sql.SQL("COPY {}.{} ({}) FROM STDIN").format(s, t, idents)) as copy:
                for r in rows:
                    copy.write_row(r)


def _partitioned(spec: TableSpec) -> bool:
    # Sample tables (with ts) by day; runs and hosts are small tables of their own.
    return (spec.name in SAMPLED_CORE or spec.name not in CORE) and "ts" in spec.names


def _reason(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        return str(primary)
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
