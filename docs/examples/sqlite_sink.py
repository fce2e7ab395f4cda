"""A complete sink plugin: every round's rows into an SQLite file as well.

Drop this file into a folder named by ``[plugins] paths`` and configure it::

    [sinks.lite]
    type = "sqlite"
    path = "/var/lib/onion/onion.sqlite"

It keeps the sink contract (``onion.storage.sink``), which the conformance cases in
``tests/storage/test_conformance.py`` check for it too:

- a batch is one SQLite transaction: all of it or nothing;
- the ``_onion_batches`` table records each batch id in that transaction, so a batch
  handed over again is not stored twice;
- new tables and columns are created as batches bring them; a state table (``hosts``)
  keeps one row per key;
- values survive exactly: SQLite's integers are signed 64-bit, so UBIGINT counters are
  stored as decimal text; timestamps as ISO 8601 text; lists as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onion.plugin import (
    Batch,
    ConfigError,
    Health,
    LogicalType,
    SinkContext,
    SinkError,
    TableSpec,
    Written,
)

T = LogicalType
AFFINITY = {T.UBIGINT: "TEXT", T.FLOAT: "REAL", T.DOUBLE: "REAL", T.VARCHAR: "TEXT",
            T.TIMESTAMP: "TEXT", T.VARCHAR_LIST: "TEXT", T.BOOLEAN: "INTEGER"}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def to_sqlite(kind: LogicalType, value: Any) -> Any:
    if value is None:
        return None
    if kind is T.UBIGINT:
        return str(value)
    if kind is T.TIMESTAMP:
        return value.isoformat()
    if kind is T.VARCHAR_LIST:
        return json.dumps(list(value))
    if kind is T.BOOLEAN:
        return int(value)
    return value


def from_sqlite(kind: LogicalType, value: Any) -> Any:
    """The value as Onion had it (for readers of the file, and the conformance cases)."""
    if value is None:
        return None
    if kind is T.UBIGINT:
        return int(value)
    if kind is T.TIMESTAMP:
        return dt.datetime.fromisoformat(value)
    if kind is T.VARCHAR_LIST:
        return json.loads(value)
    if kind is T.BOOLEAN:
        return bool(value)
    return value


class SQLiteSink:
    kind = "sqlite"

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.con: sqlite3.Connection | None = None

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> SQLiteSink:
        unknown = set(table) - {"path"}
        if unknown or not isinstance(table.get("path"), str):
            raise ConfigError(f"[sinks.{name}]: needs path (a file) and nothing else")
        path = Path(table["path"]).expanduser()
        return cls(name, path if path.is_absolute() else context.data_dir / path)

    def open(self) -> None:
        if self.con is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.con = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.con.execute("CREATE TABLE IF NOT EXISTS _onion_batches "
                             "(batch_id TEXT PRIMARY KEY, stored_at TEXT)")
        except (OSError, sqlite3.Error) as exc:
            self.con = None
            raise SinkError(f"{self.path}: {exc}") from exc

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        self.open()
        assert self.con is not None
        try:
            for name, spec in tables.items():
                cols = ", ".join(f"{_ident(c.name)} {AFFINITY.get(c.type, 'INTEGER')}"
                                 for c in spec.columns)
                if spec.upsert_key:  # a state table (hosts): one row per key, replaced
                    cols += f", PRIMARY KEY ({', '.join(map(_ident, spec.upsert_key))})"
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {_ident(name)} ({cols})")
                have = {r[1] for r in self.con.execute(f"PRAGMA table_info({_ident(name)})")}
                for c in spec.columns:
                    if c.name not in have:
                        self.con.execute(f"ALTER TABLE {_ident(name)} ADD COLUMN "
                                         f"{_ident(c.name)} {AFFINITY.get(c.type, 'INTEGER')}")
        except sqlite3.Error as exc:
            raise SinkError(f"{self.path}: {exc}") from exc

    def write(self, batch: Batch) -> Written:
        self.open()
        assert self.con is not None
        con = self.con
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT 1 FROM _onion_batches WHERE batch_id = ?",
                               [batch.batch_id]).fetchone():
                    con.execute("ROLLBACK")
                    return Written.DUPLICATE
                for name, cols in batch.data.items():
                    spec = batch.tables[name]
                    names = [c for c in spec.names if c in cols]
                    kinds = [spec.column(c).type for c in names]
                    rows = zip(*(cols[c] for c in names), strict=True)
                    verb = "INSERT OR REPLACE" if spec.upsert_key else "INSERT"
                    con.executemany(
                        f"{verb} INTO {_ident(name)} ({', '.join(map(_ident, names))}) "
                        f"VALUES ({', '.join('?' * len(names))})",
                        ([to_sqlite(k, v) for k, v in zip(kinds, row, strict=True)]
                         for row in rows))
                con.execute("INSERT INTO _onion_batches VALUES (?, ?)",
                            [batch.batch_id, dt.datetime.now(dt.UTC).isoformat()])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise SinkError(f"{self.path}: {exc}") from exc
        return Written.STORED

    def health(self) -> Health:
        try:
            self.open()
        except SinkError as exc:
            return Health(False, str(exc))
        return Health(True, str(self.path))

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


SINK = SQLiteSink
