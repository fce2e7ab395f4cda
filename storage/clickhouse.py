"""ClickHouse as a store of the fleet's rows, for fleets past what one PostgreSQL takes.

    [sinks.ch]
    type = "clickhouse"
    dsn = "clickhouse://onion@ch.example.org:8443/onion?secure=true"  # the HTTP(S) port
    password_file = "/etc/onion/clickhouse.password"
    tls_ca = ""                      # the server's CA, for https
    connect_timeout = "10s"

    # or ClickHouse inside this process (chDB), its files in a folder:
    dsn = "chdb:///var/lib/onion/clickhouse"

ClickHouse has no transaction across tables, so a batch is made visible at once instead:

- each table's rows go to ``<table>_rows`` (``MergeTree``, a partition per day, ordered by
  host, the table's key columns, ts) with a ``_batch`` column, each insert carrying the
  deduplication token ``<batch id>/<table>`` (``non_replicated_deduplication_window``): a
  batch sent again after a failure or a crash half-way is not stored twice;
- the batch id goes into ``_onion_batches`` last;
- users query the view ``<table>``: the rows of the batches in ``_onion_batches`` only,
  so a batch cut half-way is never seen, and is whole once its retry ends.

Values survive exactly: UInt64 counters, Float32 for FLOAT, DateTime64(6) (naive UTC),
Bool; lists are JSON text (``Nullable(String)``: ClickHouse arrays cannot be NULL, and a
NULL list must stay NULL). ``hosts`` keeps one row per host (``ReplacingMergeTree``;
``last_ok`` carried over from the row before when a poll failed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from onion.core import duration
from onion.core.errors import ConfigError, SinkError
from onion.core.types import LogicalType as T
from onion.storage.batch import Batch
from onion.storage.schema import CORE, TableSpec
from onion.storage.sink import Health, SinkContext, Written, check_keys, read_secret

LEDGER = "_onion_batches"
KNOWN = {"dsn", "password_file", "tls_ca", "connect_timeout"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
CH_TYPES = {
    T.BOOLEAN: "Bool", T.TINYINT: "Int8", T.SMALLINT: "Int16", T.INTEGER: "Int32",
    T.BIGINT: "Int64", T.UTINYINT: "UInt8", T.USMALLINT: "UInt16", T.UINTEGER: "UInt32",
    T.UBIGINT: "UInt64", T.FLOAT: "Float32", T.DOUBLE: "Float64", T.VARCHAR: "String",
    T.TIMESTAMP: "DateTime64(6)", T.VARCHAR_LIST: "String",
}
# Read back 64-bit integers as numbers, not quoted text.
READ = "SETTINGS output_format_json_quote_64bit_integers = 0"


def ident(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SinkError(f"{name!r} cannot name a ClickHouse table or column")
    return f"`{name}`"


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def column_type(kind: T, key: bool) -> str:
    base = CH_TYPES[kind]
    return base if key else f"Nullable({base})"


def to_json(kind: T, value: Any) -> Any:
    """A value as ClickHouse's JSONEachRow reads it into its column."""
    if value is None:
        return None
    if kind is T.TIMESTAMP:
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind is T.VARCHAR_LIST:
        return json.dumps(list(value), ensure_ascii=False)
    return value


def from_json(kind: T, value: Any) -> Any:
    if value is None:
        return None
    if kind is T.TIMESTAMP:
        return dt.datetime.fromisoformat(value)
    if kind is T.VARCHAR_LIST:
        return json.loads(value)
    if kind.is_float:
        return float(value)
    return value


class Backend(Protocol):
    def command(self, sql: str) -> None: ...
    def rows(self, sql: str) -> list[dict[str, Any]]: ...
    def insert(self, table: str, body: bytes, token: str) -> None: ...
    def close(self) -> None: ...


class HTTPBackend:
    """A ClickHouse server over its HTTP(S) interface (clickhouse-connect)."""

    def __init__(self, dsn: str, password: str | None, ca: str | None, timeout: float) -> None:
        import clickhouse_connect

        kw: dict[str, Any] = {"dsn": dsn, "connect_timeout": timeout,
                              "send_receive_timeout": max(timeout, 300)}
        if password is not None:
            kw["password"] = password
        if ca:
            kw["ca_cert"] = ca
        self.client = clickhouse_connect.get_client(**kw)

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        raw = self.client.raw_query(f"{sql} {READ} FORMAT JSONEachRow")
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    def insert(self, table: str, body: bytes, token: str) -> None:
        self.client.raw_insert(table, insert_block=body, fmt="JSONEachRow",
                               settings={"insert_deduplication_token": token})

    def close(self) -> None:
        self.client.close()


class ChdbBackend:
    """ClickHouse in this process (chDB), its files in a folder. One folder per process
    at a time: chDB's own limit."""

    def __init__(self, folder: Path) -> None:
        from chdb import session

        self.session = session.Session(str(folder))

    def _run(self, sql: str, fmt: str = "CSV") -> str:
        try:
            return str(self.session.query(sql, fmt))
        except Exception as exc:  # chdb's ChdbError: as the HTTP client's errors are said
            raise RuntimeError(str(exc)) from exc

    def command(self, sql: str) -> None:
        self._run(sql)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        text = self._run(f"{sql} {READ}", "JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def insert(self, table: str, body: bytes, token: str) -> None:
        self._run(f"INSERT INTO {table} SETTINGS insert_deduplication_token = {literal(token)} "
                  f"FORMAT JSONEachRow\n{body.decode()}")

    def close(self) -> None:
        self.session.close()


def _errors() -> tuple[type[BaseException], ...]:
    """What the backends raise for a server or statement that fails."""
    found: list[type[BaseException]] = [RuntimeError, OSError]
    try:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        found.append(ClickHouseError)
    except ImportError:
        pass
    return tuple(found)


class ClickHouseSink:
    kind = "clickhouse"

    def __init__(self, name: str, dsn: str, password: str | None = None,
                 ca: str | None = None, connect_timeout: float = 10.0) -> None:
        self.name = name
        self.dsn = dsn
        self.password = password
        self.ca = ca
        self.connect_timeout = connect_timeout
        self.backend: Backend | None = None
        self._columns: dict[str, set[str]] = {}

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> ClickHouseSink:
        where = f"[sinks.{name}]"
        check_keys(table, KNOWN, where)
        dsn = table.get("dsn")
        scheme = urlsplit(dsn).scheme if isinstance(dsn, str) else ""
        if scheme not in ("clickhouse", "chdb"):
            raise ConfigError(f"{where} dsn must be clickhouse://USER@HOST:PORT/DB (its HTTP "
                              f"port) or chdb:///FOLDER, not {dsn!r}")
        try:
            if scheme == "chdb":
                import chdb  # noqa: F401
            else:
                import clickhouse_connect  # noqa: F401
        except ImportError:
            raise ConfigError(f"{where}: ClickHouse needs clickhouse-connect (or chdb for "
                              "chdb://): pip install 'onion-poller[clickhouse]'") from None
        password = read_secret(table, "password_file", context, where)
        ca = str(Path(str(table["tls_ca"])).expanduser()) if table.get("tls_ca") else None
        timeout = duration.parse(str(table.get("connect_timeout", "10s")),
                                 f"{where} connect_timeout").total_seconds()
        return cls(name, str(dsn), password, ca, max(timeout, 1.0))

    @property
    def where(self) -> str:
        u = urlsplit(self.dsn)
        if u.scheme == "chdb":
            return f"chdb://{u.path}"
        return f"clickhouse://{u.hostname or ''}:{u.port or ''}{u.path}"  # no password

    # -- the contract -------------------------------------------------------------------

    def open(self) -> None:
        if self.backend is not None:
            return
        u = urlsplit(self.dsn)
        try:
            if u.scheme == "chdb":
                folder = Path(u.path or ".")
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.backend = ChdbBackend(folder)
            else:
                self.backend = HTTPBackend(self.dsn, self.password, self.ca,
                                           self.connect_timeout)
        except (*_errors(), ValueError) as exc:
            raise SinkError(f"{self.where}: {_reason(exc)}") from exc
        self._columns.clear()

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        self.open()
        try:
            self._ensure(tables)
        except _errors() as exc:
            raise SinkError(f"{self.where}: {_reason(exc)}") from exc

    def write(self, batch: Batch) -> Written:
        self.open()
        assert self.backend is not None
        token = batch.batch_id
        try:
            self._ensure({**CORE, **batch.tables})
            if self.backend.rows(f"SELECT 1 AS x FROM {LEDGER} WHERE batch_id = "
                                 f"{literal(token)} LIMIT 1"):
                return Written.DUPLICATE
            for table, spec in {**CORE, **batch.tables}.items():
                if batch.row_count(table):
                    self._insert(spec, batch.data[table], token)
            rows = sum(batch.row_count(t) for t in batch.data)
            body = json.dumps({"batch_id": token, "stored_at": to_json(
                T.TIMESTAMP, dt.datetime.now(dt.UTC)), "rows": rows}).encode()
            self.backend.insert(LEDGER, body, token)   # last: the batch becomes visible
        except _errors() as exc:
            raise SinkError(f"{self.where}: {_reason(exc)}") from exc
        return Written.STORED

    def health(self) -> Health:
        try:
            self.open()
            assert self.backend is not None
            self.backend.rows("SELECT 1 AS ok")
        except (SinkError, *_errors()) as exc:
            return Health(False, str(exc))
        return Health(True, self.where)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    # -- tables ---------------------------------------------------------------------------

    def _ensure(self, tables: Mapping[str, TableSpec]) -> None:
        assert self.backend is not None
        b = self.backend
        if not self._columns:
            b.command(f"CREATE TABLE IF NOT EXISTS {LEDGER} (batch_id String, stored_at "
                      "DateTime64(6), rows UInt64) ENGINE = ReplacingMergeTree ORDER BY "
                      "batch_id SETTINGS non_replicated_deduplication_window = 10000")
            for r in b.rows("SELECT table, name FROM system.columns WHERE database = "
                            "currentDatabase()"):
                if r["table"].endswith("_rows"):
                    self._columns.setdefault(r["table"][:-5], set()).add(r["name"])
        for name, spec in tables.items():
            have = self._columns.get(name)
            if have is None:
                self._create(spec)
                continue
            added = [c for c in spec.columns if c.name not in have]
            for c in added:
                b.command(f"ALTER TABLE {ident(name + '_rows')} ADD COLUMN IF NOT EXISTS "
                          f"{ident(c.name)} {column_type(c.type, False)}")
                have.add(c.name)
            if added:
                self._view(spec, have)

    def _keys(self, spec: TableSpec) -> list[str]:
        if spec.upsert_key:
            return list(spec.upsert_key)
        keys = [c.name for c in spec.columns if c.key]
        return [n for n in ("host", *keys, "ts") if n in spec.names]

    def _create(self, spec: TableSpec) -> None:
        assert self.backend is not None
        keys = self._keys(spec)
        # host and ts are never NULL; other key columns may be (allow_nullable_key).
        cols = ", ".join([f"{ident(c.name)} {column_type(c.type, c.name in ('host', 'ts'))}"
                          for c in spec.columns] + ["`_batch` String"])
        order = ", ".join(map(ident, keys)) or "tuple()"
        if spec.upsert_key:
            engine = "ReplacingMergeTree"
            extra = ""
        else:
            engine = "MergeTree"
            extra = "PARTITION BY toYYYYMMDD(`ts`) " if "ts" in keys else ""
        self.backend.command(
            f"CREATE TABLE IF NOT EXISTS {ident(spec.name + '_rows')} ({cols}) ENGINE = "
            f"{engine} {extra}ORDER BY ({order}) SETTINGS allow_nullable_key = 1, "
            "non_replicated_deduplication_window = 10000")
        self._columns[spec.name] = set(spec.names)
        self._view(spec, set(spec.names))

    def _view(self, spec: TableSpec, columns: set[str]) -> None:
        """The table users query: the rows of complete batches (the newest per key for a
        state table)."""
        assert self.backend is not None
        final = " FINAL" if spec.upsert_key else ""
        self.backend.command(
            f"CREATE OR REPLACE VIEW {ident(spec.name)} AS SELECT * EXCEPT (`_batch`) FROM "
            f"{ident(spec.name + '_rows')}{final} WHERE `_batch` IN (SELECT batch_id FROM "
            f"{LEDGER})")

    # -- rows -----------------------------------------------------------------------------

    def _insert(self, spec: TableSpec, data: Mapping[str, Sequence[Any]], token: str) -> None:
        assert self.backend is not None
        names = [c.name for c in spec.columns if c.name in data]
        kinds = [spec.column(n).type for n in names]
        columns = [data[n] for n in names]
        if spec.name == "hosts" and "last_ok" in names:
            columns = self._carry_last_ok(names, columns)
        lines = []
        for values in zip(*columns, strict=True):
            row = {n: to_json(k, v) for n, k, v in zip(names, kinds, values, strict=True)}
            row["_batch"] = token
            lines.append(json.dumps(row, ensure_ascii=False))
        self.backend.insert(ident(spec.name + "_rows"), ("\n".join(lines) + "\n").encode(),
                            f"{token}/{spec.name}")

    def _carry_last_ok(self, names: list[str], columns: list[Sequence[Any]]
                       ) -> list[Sequence[Any]]:
        """A failed poll's row keeps the last good poll's time (the newest row wins)."""
        assert self.backend is not None
        i, h = names.index("last_ok"), names.index("host")
        missing = [host for host, ok in zip(columns[h], columns[i], strict=True) if ok is None]
        if not missing:
            return columns
        quoted = ", ".join(literal(str(x)) for x in missing)
        known = {r["host"]: r["last_ok"] for r in self.backend.rows(
            f"SELECT host, last_ok FROM hosts WHERE host IN ({quoted}) AND last_ok IS NOT NULL")}
        fixed = [ok if ok is not None else from_json(T.TIMESTAMP, known.get(host))
                 for host, ok in zip(columns[h], columns[i], strict=True)]
        return [*columns[:i], fixed, *columns[i + 1:]]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    # A server's message first line: no stack trace, no query body.
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
