"""MySQL or MariaDB as a store of the fleet's rows (a central's, typically): PyMySQL.

    [sinks.my]
    type = "mysql"
    dsn = "mysql://onion@db.example.org:3306/onion"   # or mariadb://
    password_file = "/etc/onion/mysql.password"      # preferred to a password in the dsn
    unix_socket = ""                                 # a local server's socket instead of TCP
    connect_timeout = "10s"
    timeout = "5m"                                   # a statement that gets no answer
    tls_ca = "/etc/onion/mysql-ca.pem"               # TLS, the server's certificate checked

- A batch is one InnoDB transaction: its rows, and its id in the ``_onion_batches``
  ledger, so a batch handed over again is not stored twice (the second answer is
  DUPLICATE) and a failure leaves nothing behind. Table and column changes come before
  that transaction (MySQL commits around DDL); they are harmless to repeat.
- Tables and columns a batch brings that are not there are added (old rows read NULL).
  Sample tables are indexed on (host, ts); ``hosts`` keeps one row per host
  (``INSERT … ON DUPLICATE KEY UPDATE``), its ``last_ok`` kept when a poll failed.
- Values survive exactly: unsigned types are MySQL's UNSIGNED ones (a 2**64-1 counter is a
  ``BIGINT UNSIGNED``), ``FLOAT`` is 32-bit (read ``CAST(col AS DOUBLE)`` for all of its
  digits: MariaDB prints six), timestamps ``DATETIME(6)`` (naive UTC), text
  ``MEDIUMTEXT`` (``VARCHAR(255)`` where a key or index needs it), lists ``JSON``; all
  utf8mb4 with a binary collation, so that 'n1' and 'N1' are two hosts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from onion.core import duration
from onion.core.errors import ConfigError, SinkError
from onion.core.types import LogicalType as T
from onion.storage.batch import Batch
from onion.storage.schema import TableSpec
from onion.storage.sink import Health, SinkContext, Written, check_keys

try:  # an optional extra: onion-poller[mysql]
    import pymysql
except ImportError:  # pragma: no cover - said when such a sink is configured
    pymysql = None  # type: ignore[assignment]

LEDGER = "_onion_batches"
KNOWN = {"dsn", "password_file", "unix_socket", "connect_timeout", "timeout", "tls_ca"}
SCHEMES = ("mysql", "mariadb")
MYSQL_TYPES = {
    T.TINYINT: "TINYINT", T.SMALLINT: "SMALLINT", T.INTEGER: "INT", T.BIGINT: "BIGINT",
    T.UTINYINT: "TINYINT UNSIGNED", T.USMALLINT: "SMALLINT UNSIGNED",
    T.UINTEGER: "INT UNSIGNED", T.UBIGINT: "BIGINT UNSIGNED",
    T.FLOAT: "FLOAT", T.DOUBLE: "DOUBLE", T.BOOLEAN: "BOOLEAN",
    # MEDIUMTEXT, not TEXT: TEXT stops at 64 KiB, and a longer value would fail the
    # batch for good (strict mode) instead of being stored.
    T.VARCHAR: "MEDIUMTEXT", T.TIMESTAMP: "DATETIME(6)", T.VARCHAR_LIST: "JSON",
}
KEY_TEXT = "VARCHAR(255)"   # what a key or an index can hold (1020 bytes in utf8mb4)
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
# Strict: a value a column cannot hold is an error, never a silently clipped number.
# lock_wait_timeout: DDL waiting on another session's lock fails in a minute, not a year.
SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
           "time_zone = '+00:00', lock_wait_timeout = 60")
CHUNK_ROWS = 1000
_TABLE = re.compile(r"[A-Za-z0-9_]{1,64}")
# Server error codes this sink answers to.
ER_DUP_ENTRY = 1062
ER_DUP_FIELDNAME = 1060


def ident(name: str) -> str:
    """A quoted identifier. Callers double ``%`` in statements that take parameters."""
    return "`" + name.replace("`", "``") + "`"


def _table_name(name: str) -> str:
    # Batch table names arrive from other pollers: only plain names become tables.
    if not _TABLE.fullmatch(name):
        raise SinkError(f"table name {name!r} cannot name a MySQL table "
                        "(letters, digits and _ only, at most 64)")
    return name


def to_mysql(kind: T, value: Any) -> Any:
    if value is None:
        return None
    if kind is T.VARCHAR_LIST:
        return json.dumps(list(value), ensure_ascii=False)
    if kind is T.TIMESTAMP and isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)   # DATETIME is naive UTC
    if kind is T.BOOLEAN:
        return bool(value)
    return value


def from_mysql(kind: T, value: Any) -> Any:
    """The value as Onion had it (for readers of the database, and the tests)."""
    if value is None:
        return None
    if kind is T.VARCHAR_LIST:
        return json.loads(value)
    if kind is T.BOOLEAN:
        return bool(value)   # BOOLEAN is TINYINT(1): it reads back as 0 or 1
    return value


def select_expr(name: str, kind: T) -> str:
    """How to read a column back exactly: MariaDB prints a FLOAT with 6 digits (16777216
    reads 16777200), its DOUBLE value is the stored 32-bit one."""
    q = ident(name)
    return f"CAST({q} AS DOUBLE) AS {q}" if kind is T.FLOAT else q


def column_type(name: str, kind: T, keyed: set[str]) -> str:
    if kind is T.VARCHAR and name in keyed:
        return KEY_TEXT
    return MYSQL_TYPES[kind]


def create_table(name: str, spec: TableSpec) -> str:
    keyed = {"host", *spec.upsert_key}
    cols = [f"{ident(c.name)} {column_type(c.name, c.type, keyed)}" for c in spec.columns]
    names = set(spec.names)
    if spec.upsert_key:   # a state table (hosts): one row per key
        cols.append(f"PRIMARY KEY ({', '.join(map(ident, spec.upsert_key))})")
    elif {"host", "ts"} <= names:
        cols.append("INDEX `host_ts` (`host`, `ts`)")
    return f"CREATE TABLE IF NOT EXISTS {ident(name)} ({', '.join(cols)}) {TABLE_OPTIONS}"


def insert_statement(name: str, spec: TableSpec, names: Sequence[str]) -> str:
    """One row's INSERT, which ``executemany`` sends as multi-row statements."""
    head = f"INSERT INTO {ident(name)} ({', '.join(map(ident, names))})"
    tail = ""
    if spec.upsert_key:
        sets = []
        for c in names:
            q = ident(c)
            if c in spec.upsert_key:
                continue
            if c == "first_seen":      # the first poll's time stays
                sets.append(f"{q} = COALESCE({q}, VALUES({q}))")
            elif c == "last_ok":       # the last good poll's time, across failed ones
                sets.append(f"{q} = COALESCE(VALUES({q}), {q})")
            else:
                sets.append(f"{q} = VALUES({q})")
        if not sets:                   # only key columns: nothing to change
            key = ident(spec.upsert_key[0])
            sets.append(f"{key} = {key}")
        tail = " ON DUPLICATE KEY UPDATE " + ", ".join(sets)
    # PyMySQL %-formats the text around the placeholders, identifiers included.
    values = "(" + ", ".join(["%s"] * len(names)) + ")"
    return head.replace("%", "%%") + " VALUES " + values + tail.replace("%", "%%")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the rows go, parsed from the settings; ``where`` names it without secrets."""

    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    unix_socket: str | None = None
    connect_timeout: float = 10.0
    timeout: float = 300.0
    tls_ca: str | None = None

    @property
    def where(self) -> str:
        at = f"socket {self.unix_socket}" if self.unix_socket else f"{self.host}:{self.port}"
        return f"mysql://{self.user}@{at}/{self.database}"


def parse_dsn(dsn: str, where: str) -> dict[str, Any]:
    """host, port, user, database and (if there) password from mysql://USER@HOST:PORT/DB."""
    shape = f"{where} dsn must be mysql://USER@HOST:PORT/DATABASE (or mariadb://)"
    try:
        u = urlsplit(dsn)
        port = u.port
    except ValueError:
        raise ConfigError(f"{shape}: its host or port cannot be read") from None
    if u.scheme not in SCHEMES:
        raise ConfigError(f"{shape}, not {u.scheme or 'no'}://")
    if u.query or u.fragment:
        raise ConfigError(f"{shape}: options go in the sink's settings, not after ?")
    database = unquote(u.path.lstrip("/"))
    if not u.username or not database or "/" in database:
        raise ConfigError(f"{shape}: the user and the database are required")
    return {"host": u.hostname or "localhost", "port": port or 3306,
            "user": unquote(u.username), "database": database,
            "password": unquote(u.password) if u.password is not None else None}


class MySQLSink:
    kind = "mysql"

    def __init__(self, name: str, target: Target) -> None:
        self.name = name
        self.target = target
        self.con: Any = None
        self._columns: dict[str, set[str]] | None = None   # table -> lower-case columns
        self._max_stmt = 1 << 20

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> MySQLSink:
        where = f"[sinks.{name}]"
        check_keys(table, KNOWN, where)
        if pymysql is None:
            raise ConfigError(f"{where}: MySQL needs PyMySQL: pip install "
                              "'onion-poller[mysql]'")
        dsn = table.get("dsn")
        if not isinstance(dsn, str):
            raise ConfigError(f"{where} dsn (mysql://USER@HOST:PORT/DATABASE) is required")
        parts = parse_dsn(dsn, where)

        def path(key: str) -> Path | None:
            value = table.get(key)
            if value in (None, ""):
                return None
            if not isinstance(value, str):
                raise ConfigError(f"{where} {key} must be a path")
            p = Path(value).expanduser()
            return p if p.is_absolute() else context.data_dir / p

        pw_file = path("password_file")
        if pw_file is not None:
            if parts["password"] is not None:
                raise ConfigError(f"{where}: a password in the dsn and a password_file: "
                                  "keep one (password_file is better)")
            try:
                parts["password"] = pw_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{where} password_file {pw_file}: "
                                  f"{exc.strerror or exc}") from exc
        socket = path("unix_socket")
        tls_ca = path("tls_ca")
        if tls_ca is not None and not tls_ca.is_file():
            raise ConfigError(f"{where} tls_ca {tls_ca}: no such file")

        def seconds(key: str, default: str) -> float:
            s = duration.parse(str(table.get(key, default)), f"{where} {key}").total_seconds()
            if not 1 <= s <= 31536000:   # PyMySQL's own bounds, and no zero
                raise ConfigError(f"{where} {key}: between 1s and a year, not {s:g}s")
            return s

        return cls(name, Target(**parts, unix_socket=str(socket) if socket else None,
                                connect_timeout=seconds("connect_timeout", "10s"),
                                timeout=seconds("timeout", "5m"),
                                tls_ca=str(tls_ca) if tls_ca else None))

    @property
    def where(self) -> str:
        return self.target.where

    # -- the contract -------------------------------------------------------------------

    def open(self) -> None:
        if self.con is not None:
            return
        if pymysql is None:
            raise SinkError(f"{self.where}: PyMySQL is not installed "
                            "(pip install 'onion-poller[mysql]')")
        t = self.target
        try:
            con = pymysql.connect(
                host=t.host, port=t.port, user=t.user, password=t.password or "",
                database=t.database, unix_socket=t.unix_socket, charset="utf8mb4",
                connect_timeout=t.connect_timeout, read_timeout=t.timeout,
                write_timeout=t.timeout, autocommit=True, init_command=SESSION,
                ssl={"ca": t.tls_ca} if t.tls_ca else None)
        except (pymysql.Error, OSError) as exc:   # OSError: a TLS or socket failure
            raise SinkError(self._reason(exc)) from exc
        self.con = con
        try:
            with self._guard():
                with con.cursor() as cur:
                    # Multi-row statements stay under what the server takes in one packet.
                    cur.execute("SELECT @@max_allowed_packet")
                    packet = int(cur.fetchone()[0])
                    cur.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} ("
                                "batch_id VARCHAR(255) PRIMARY KEY, stored_at DATETIME(6), "
                                f"`rows` BIGINT UNSIGNED) {TABLE_OPTIONS}")
        except SinkError:
            self.close()
            raise
        self._max_stmt = max(min(1 << 20, packet - 4096), 16 << 10)

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        self.open()
        with self._guard(), self.con.cursor() as cur:
            if self._columns is None:
                self._columns = self._read_columns(cur)
            for name, spec in tables.items():
                _table_name(name)
                have = self._columns.get(name)
                if have is None:
                    cur.execute(create_table(name, spec))
                    have = self._read_columns(cur, name).get(name, set())
                    self._columns[name] = have
                keyed = {"host", *spec.upsert_key}
                for c in spec.columns:
                    if c.name.lower() in have:   # MySQL's column names ignore case
                        continue
                    try:
                        cur.execute(f"ALTER TABLE {ident(name)} ADD COLUMN {ident(c.name)} "
                                    f"{column_type(c.name, c.type, keyed)}")
                    except pymysql.MySQLError as exc:
                        if _code(exc) != ER_DUP_FIELDNAME:   # another writer added it
                            raise
                    have.add(c.name.lower())

    def write(self, batch: Batch) -> Written:
        self.open()
        bid = batch.batch_id
        if len(bid) > 255:
            raise SinkError(f"{self.where}: batch id {bid[:40]!r}… is longer than 255")
        with self._guard(), self.con.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {LEDGER} WHERE batch_id = %s", [bid])
            if cur.fetchone():
                return Written.DUPLICATE
        self.ensure_schema(batch.tables)   # DDL commits by itself: before the transaction
        plan = list(self._plan(batch))
        total = sum(len(rows) for _, rows in plan)
        con = self.con
        with self._guard():
            con.begin()
            try:
                with con.cursor() as cur:
                    cur.max_stmt_length = self._max_stmt
                    try:
                        # First: a second writer of this batch waits here on the key lock.
                        cur.execute(f"INSERT INTO {LEDGER} (batch_id, stored_at, `rows`) "
                                    "VALUES (%s, %s, %s)",
                                    [bid, dt.datetime.now(dt.UTC).replace(tzinfo=None), total])
                    except pymysql.IntegrityError as exc:
                        if _code(exc) != ER_DUP_ENTRY:
                            raise
                        con.rollback()
                        return Written.DUPLICATE
                    for statement, rows in plan:
                        for i in range(0, len(rows), CHUNK_ROWS):
                            cur.executemany(statement, rows[i:i + CHUNK_ROWS])
                con.commit()
            except BaseException:
                try:
                    con.rollback()
                except Exception:
                    self._drop()   # the session's state is unknown: start a new one
                raise
        return Written.STORED

    def health(self) -> Health:
        try:
            self.open()
            with self._guard():
                self.con.ping(reconnect=False)
        except SinkError as exc:
            return Health(False, str(exc))
        return Health(True, f"{self.where} ({self.con.get_server_info()})")

    def close(self) -> None:
        self._drop()

    # -- inside -------------------------------------------------------------------------

    def _plan(self, batch: Batch) -> Iterator[tuple[str, list[list[Any]]]]:
        """(statement, rows) per table with rows, values as MySQL takes them."""
        for name, cols in batch.data.items():
            spec = batch.tables.get(name)
            if spec is None:
                raise SinkError(f"{self.where}: batch {batch.batch_id} has rows for "
                                f"{name!r} but no spec of it")
            names = [c for c in spec.names if c in cols]
            if not names or not cols[names[0]]:
                continue
            kinds = [spec.column(c).type for c in names]
            try:
                rows = [[to_mysql(k, v) for k, v in zip(kinds, r, strict=True)]
                        for r in zip(*(cols[c] for c in names), strict=True)]
            except (TypeError, ValueError) as exc:   # ragged columns, a value of no type
                raise SinkError(f"{self.where}: batch {batch.batch_id}, table {name}: "
                                f"{exc}") from exc
            yield insert_statement(_table_name(name), spec, names), rows

    def _read_columns(self, cur: Any, table: str | None = None) -> dict[str, set[str]]:
        query = ("SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
                 "WHERE TABLE_SCHEMA = DATABASE()")
        cur.execute(query + (" AND TABLE_NAME = %s" if table else ""),
                    [table] if table else None)
        out: dict[str, set[str]] = {}
        for t, c in cur.fetchall():
            out.setdefault(t, set()).add(c.lower())
        return out

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """PyMySQL's errors as SinkError; a broken connection is dropped, and the next
        call connects again (the batch waits in the queue meanwhile)."""
        try:
            yield
        except pymysql.Error as exc:
            self._columns = None   # what failed may be a table changed behind our back
            if isinstance(exc, pymysql.OperationalError | pymysql.InterfaceError) and \
                    not 1000 <= _code(exc) < 2000:   # client side (2xxx): the link is gone
                self._drop()
            raise SinkError(self._reason(exc)) from exc
        except OSError as exc:
            self._drop()
            raise SinkError(self._reason(exc)) from exc

    def _drop(self) -> None:
        con, self.con = self.con, None
        self._columns = None
        if con is not None:
            with contextlib.suppress(Exception):   # closing a dead link may fail too
                con.close()

    def _reason(self, exc: BaseException) -> str:
        if pymysql is not None and isinstance(exc, pymysql.Error) and len(exc.args) >= 2:
            text = f"{exc.args[1]} (error {exc.args[0]})"
        else:
            text = str(exc) or type(exc).__name__
        if self.target.password:   # never in a log line, whatever a driver puts in a message
            text = text.replace(self.target.password, "***")
        return f"{self.where}: {text}"


def _code(exc: BaseException) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0

