"""The built-in default sink: the DuckDB database, with its archive.

It keeps its connection open after writing, so that archiving and judging alerts reuse
it (opening a database costs tens of milliseconds each time, whatever the fleet's size);
the owner closes it, then calls :meth:`DuckDBSink.finish` for what needs the file closed
(a rewrite that gives back free blocks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from onion.core.config import Config
from onion.core.errors import ConfigError, DatabaseLocked, SinkError, StorageError
from onion.storage import archive
from onion.storage import duck as store
from onion.storage.batch import Batch
from onion.storage.schema import TableSpec
from onion.storage.sink import Health, SinkContext, Written


class DuckDBSink:
    kind = "duckdb"

    def __init__(self, name: str, db_path: Path, archive_dir: Path,
                 retention: archive.Retention, queue_dir: Path | None = None) -> None:
        self.name = name
        self.db_path = db_path
        self.archive_dir = archive_dir
        self.retention = retention
        self.queue_dir = queue_dir
        self.con: duckdb.DuckDBPyConnection | None = None
        self._maintenance: archive.MaintainReport | None = None
        # The table specs whose schema this connection has made sure of. Valid while it
        # is open: it holds the database's write lock, so nothing else changes the
        # schema meanwhile; a new connection checks again (another process may have).
        self._schema_ok: list[Mapping[str, TableSpec]] = []

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> DuckDBSink:
        # Registered like every sink type so that `onion plugins` lists it; there is one
        # DuckDB database, the query engine of every read path, and [storage] sets it.
        raise ConfigError(f"[sinks.{name}]: the DuckDB database is configured in [storage], "
                          "not as a [sinks.NAME] table")

    @classmethod
    def from_settings(cls, cfg: Config, name: str = "duckdb") -> DuckDBSink:
        return cls(name, cfg.db_path, cfg.archive_path,
                   archive.Retention.from_settings(cfg.storage), cfg.spool_path)

    def open(self) -> None:
        if self.con is not None:
            return
        self._schema_ok = []
        try:
            with store.private_files():
                self.con = store.connect(self.db_path)
        except DatabaseLocked:
            raise  # busy, not broken: the batch waits for the next round
        except StorageError as exc:
            raise SinkError(str(exc)) from exc
        except OSError as exc:
            raise SinkError(f"{self.db_path}: {exc.strerror or exc}") from exc

    def _schema_checked(self, tables: Mapping[str, TableSpec]) -> bool:
        return any(t == tables for t in self._schema_ok)

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        self.open()
        assert self.con is not None
        if self._schema_checked(tables):
            return
        try:
            with store.private_files():
                store.ensure_schema(self.con, tables)
        except duckdb.Error as exc:
            raise SinkError(f"{self.db_path}: {exc}") from exc
        self._schema_ok.append(dict(tables))

    def write(self, batch: Batch) -> Written:
        self.open()
        assert self.con is not None
        try:
            with store.private_files():
                # Checked in the batch's transaction unless ensure_schema did it on
                # this connection (fanout calls it first: once per round, not twice).
                stored = store.write_batch(self.con, batch,
                                           check_schema=not self._schema_checked(batch.tables))
        except duckdb.Error as exc:
            self._schema_ok = []  # whatever broke, the next batch checks again
            raise SinkError(f"{self.db_path}: {type(exc).__name__}: {exc}") from exc
        return Written.STORED if stored else Written.DUPLICATE

    def checkpoint(self) -> None:
        """Into the file now, as closing would: the WAL holds batches uncompressed, and the
        storage budget must not count them twice."""
        if self.con is not None:
            try:
                with store.private_files():
                    self.con.execute("CHECKPOINT")
            except duckdb.Error:
                pass  # committed either way; the next run's checkpoint catches up

    def record_drops(self, drops: list[dict[str, Any]], now: dt.datetime) -> None:
        """Batches the queue dropped for room, into storage_events where people look."""
        if not drops or self.con is None:
            return
        with store.private_files():
            for d in drops:
                self.con.execute(
                    "INSERT INTO storage_events VALUES (?, 'queue_dropped', NULL, NULL, NULL, "
                    "?, ?)", [now, d["bytes"], f"run {d['run_id']} for sinks "
                              f"{', '.join(d['sinks'])}: {d['reason']} at {d['at']}"])

    def health(self) -> Health:
        try:
            self.open()
        except SinkError as exc:
            return Health(False, str(exc))
        return Health(True, str(self.db_path))

    def maintain(self, now: dt.datetime) -> archive.MaintainReport:
        """Archive closed days, apply retention and the budget on the open connection."""
        self.open()
        self._maintenance = archive.maintain(self.db_path, self.archive_dir, self.retention,
                                             now, spool=self.queue_dir, con=self.con)
        return self._maintenance

    def close(self) -> None:
        self._schema_ok = []
        if self.con is not None:
            self.con.close()
            self.con = None

    def finish(self) -> None:
        """After close: the rewrite maintenance asked for, if any."""
        if self._maintenance is not None:
            archive.finish(self._maintenance, self.db_path, self.archive_dir, self.queue_dir)
