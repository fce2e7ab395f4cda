"""Work off the GUI thread: a function run on Qt's thread pool, its answer as a signal.

Loads (database queries, API calls) never run on the GUI thread, so the window keeps
painting and answering while a large fleet refreshes. A :class:`Runner` numbers its
requests per view and drops an answer that a newer request has overtaken.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger("onion.gui")


_paused = 0
_paused_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a load builds its rows.

    A load makes some hundred thousand short-lived objects (a 10,000-host fleet); a full
    collection started meanwhile walks them all while holding the interpreter, the GUI
    thread included (127 ms of CPU in bench/gui.py). Reference counting still frees
    everything as usual; the collector runs again when the last load ends, by then over
    the little that stays.
    """
    global _paused
    with _paused_lock:
        _paused += 1
        if _paused == 1:
            gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0:
                gc.enable()


class _Signals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    def __init__(self, serial: int, work: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.serial, self.work, self.signals = serial, work, signals

    def run(self) -> None:
        try:
            with collector_paused():
                result = self.work()
        except Exception as exc:  # shown in the window; the traceback at -vv
            log.debug("GUI load failed:\n%s", traceback.format_exc())
            self._tell(self.signals.failed, self.serial, str(exc) or type(exc).__name__)
            return
        self._tell(self.signals.done, self.serial, result)

    @staticmethod
    def _tell(signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window closed while this ran: nobody to tell
            log.debug("GUI load finished after its window closed")


class Runner(QObject):
    """Runs one kind of load; ``finished(result)`` or ``error(message)`` for the newest."""

    finished = Signal(object)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.serial = 0
        self.busy = False
        # Queued across threads: the slots run on the GUI thread, in its event loop.
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)

    def start(self, work: Callable[[], Any]) -> None:
        self.serial += 1
        self.busy = True
        self.pool.start(_Task(self.serial, work, self._signals))

    def _done(self, serial: int, result: object) -> None:
        if serial == self.serial:
            self.busy = False
            self.finished.emit(result)

    def _failed(self, serial: int, message: str) -> None:
        if serial == self.serial:
            self.busy = False
            self.error.emit(message)


__all__ = ["Runner"]
