"""The daemon's hold on its database: many readers or one writer, never both.

DuckDB lets one process write a file, or any number read it, and a process cannot hold
the same file read-only and read-write at once. So the daemon reads through one
locked-down read-only connection (:func:`onion.storage.duck.reading`), opened when a
request first needs it, and closes it before each round's store; requests wait while a
store runs (a second or so) instead of failing on a lock. Other processes (``onion sql``,
``onion report``) read beside it between stores.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from onion.storage import duck as store


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0           # bumped after each write: what caches key on
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._open: contextlib.ExitStack | None = None
        self._con: Any = None
        self._opening = threading.Lock()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor on the locked-down read-only connection (StorageError before the
        first round has made the database)."""
        with self._cond:
            # Writers first: a stream of requests must not hold off the rounds.
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            cur = store.cursor(self._connection())
            try:
                yield cur
            finally:
                cur.close()
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def _connection(self) -> Any:
        with self._opening:
            if self._con is None:
                stack = contextlib.ExitStack()
                self._con = stack.enter_context(store.reading(self.path))
                self._open = stack
            return self._con

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The database to itself: readers done, the reading connection closed."""
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and not self._readers)
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            self._close_reader()
            yield
        finally:
            with self._cond:
                self._writing = False
                self.generation += 1
                self._cond.notify_all()

    def _close_reader(self) -> None:
        with self._opening:
            if self._open is not None:
                stack, self._open, self._con = self._open, None, None
                stack.close()

    def close(self) -> None:
        with self.writing():
            pass


__all__ = ["Database"]
