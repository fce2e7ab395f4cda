"""A plain-text sink: JSON lines, a file per table and day, rotated by size.

    [sinks.text]
    type = "jsonl"
    path = "/var/lib/onion/jsonl"     # relative paths are under Onion's data folder
    rotate = "64MiB"                  # a day's file past this size continues in <day>.1.jsonl

Each row is one JSON object with ``table``, ``host`` and ``ts`` first, then its columns
(timestamps as ISO 8601 UTC, integers exact: a 2**64-1 counter stays 18446744073709551615)::

    DIR/network/2026-12-01.jsonl      {"table": "network", "host": "n1", "ts": "…", …}
    DIR/.ledger                       the batch ids written, one per line
    DIR/.journal                      only while a batch is being written

A batch is written whole or not at all: before appending, the journal records every
file's size; the batch id goes into the ledger last; a write cut by an error or a crash
is rolled back (each file truncated to its recorded size) before the next batch. A batch
whose id is in the ledger is not written again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onion.core.errors import ConfigError, SinkError
from onion.core.files import private_dir
from onion.core.units import parse_size
from onion.storage.batch import Batch
from onion.storage.schema import TableSpec
from onion.storage.sink import Health, SinkContext, Written

LEDGER = ".ledger"
JOURNAL = ".journal"
LOCK = ".lock"
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _default(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not JSON")


class JSONLinesSink:
    kind = "jsonl"

    def __init__(self, name: str, path: Path, rotate_bytes: int = 64 << 20,
                 fsync: bool = True) -> None:
        self.name = name
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self._lock_fd: int | None = None
        self._ledger: set[str] | None = None

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> JSONLinesSink:
        where = f"[sinks.{name}]"
        unknown = set(table) - {"type", "path", "rotate", "fsync"}
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} "
                              "(known: type, path, rotate, fsync)")
        path = table.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: path (a folder) is required")
        folder = Path(path).expanduser()
        if not folder.is_absolute():
            folder = context.data_dir / folder
        rotate = parse_size(str(table.get("rotate", "64MiB")), f"{where} rotate")
        if rotate < 1024:
            raise ConfigError(f"{where} rotate: at least 1KiB, not {rotate} bytes")
        fsync = table.get("fsync", True)
        if not isinstance(fsync, bool):
            raise ConfigError(f"{where} fsync must be true or false")
        return cls(name, folder, rotate, fsync)

    # -- the contract -------------------------------------------------------------------

    def open(self) -> None:
        if self._lock_fd is not None:
            return
        try:
            private_dir(self.path)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"{self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SinkError(f"{self.path} is being written by another process") from None
        self._lock_fd = fd
        try:
            self._recover()
            ledger = self.path / LEDGER
            self._ledger = set(ledger.read_text().split()) if ledger.exists() else set()
        except OSError as exc:
            self.close()
            raise SinkError(f"{self.path}: {exc.strerror or exc}") from exc

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        for name in tables:
            if not _SAFE.fullmatch(name):
                raise SinkError(f"table name {name!r} cannot name a folder")

    def write(self, batch: Batch) -> Written:
        self.open()
        assert self._ledger is not None
        if batch.batch_id in self._ledger:
            return Written.DUPLICATE
        self.ensure_schema(batch.tables)
        lines = self._lines(batch)
        ledger = self.path / LEDGER
        journal: dict[str, int] = {}
        try:
            targets = {key: self._target(*key, len(text)) for key, text in lines.items()}
            for path in [*targets.values(), ledger]:
                journal[str(path)] = path.stat().st_size if path.exists() else -1
            self._write_file(self.path / JOURNAL, json.dumps(journal), "w")
            for key, path in targets.items():
                private_dir(path.parent)
                self._write_file(path, lines[key], "a")
            self._write_file(ledger, batch.batch_id + "\n", "a")  # the commit
            (self.path / JOURNAL).unlink()
        except OSError as exc:
            self._rollback(journal)
            raise SinkError(f"{self.path}: {exc.strerror or exc}") from exc
        self._ledger.add(batch.batch_id)
        return Written.STORED

    def health(self) -> Health:
        try:
            self.open()
        except SinkError as exc:
            return Health(False, str(exc))
        return Health(os.access(self.path, os.W_OK), str(self.path))

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._ledger = None

    # -- the files ----------------------------------------------------------------------

    def _lines(self, batch: Batch) -> dict[tuple[str, str], str]:
        """The text to append, per (table, day)."""
        fallback = dt.datetime.fromtimestamp(batch.run_id / 1e6, dt.UTC).date().isoformat()
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        dumps = json.dumps
        for table in batch.data:
            for row in batch.rows(table):
                ts = row.get("ts")
                day = ts.date().isoformat() if isinstance(ts, dt.datetime) else fallback
                head = {"table": table, "host": row.get("host"), "ts": row.get("ts")}
                out[(table, day)].append(dumps({**head, **row}, default=_default))
        return {k: "\n".join(v) + "\n" for k, v in out.items()}

    def _target(self, table: str, day: str, adding: int) -> Path:
        """The file of that table and day to append to: the newest one, or the next one
        when the newest is past the rotation size."""
        folder = self.path / table
        n = 0
        while (folder / _name(day, n + 1)).exists():
            n += 1
        path = folder / _name(day, n)
        if path.exists() and path.stat().st_size > 0 and \
                path.stat().st_size + adding > self.rotate_bytes:
            path = folder / _name(day, n + 1)
        return path

    def _write_file(self, path: Path, text: str, mode: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())

    def _rollback(self, journal: Mapping[str, int]) -> None:
        for name, size in journal.items():
            path = Path(name)
            try:
                if size < 0:
                    path.unlink(missing_ok=True)
                elif path.exists():
                    os.truncate(path, size)
            except OSError:
                continue  # what cannot be undone now, _recover undoes at the next open
        if journal:
            try:
                (self.path / JOURNAL).unlink(missing_ok=True)
            except OSError:
                pass

    def _recover(self) -> None:
        """Finish or undo a write that a crash cut short: its journal is still there."""
        journal = self.path / JOURNAL
        if not journal.exists():
            return
        try:
            recorded = json.loads(journal.read_text() or "{}")
        except ValueError:
            recorded = {}  # the journal itself was cut: nothing was appended after it
        ledger = self.path / LEDGER
        before = recorded.get(str(ledger), -1)
        if ledger.exists() and ledger.stat().st_size > max(before, 0) and \
                ledger.read_bytes().endswith(b"\n"):
            journal.unlink()  # the batch id reached the ledger: the batch is whole
            return
        self._rollback(recorded)
        journal.unlink(missing_ok=True)


def _name(day: str, n: int) -> str:
    return f"{day}.jsonl" if n == 0 else f"{day}.{n}.jsonl"
