"""How long the GUI thread's event loop stops answering: a timer that should fire every
few milliseconds records the longest gap between its ticks (bench/gui.py, tests)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMeter(QObject):
    def __init__(self, every_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.every_s = every_ms / 1000
        self.longest_s = 0.0
        self.ticks = 0
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(every_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.longest_s, self.ticks = 0.0, 0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        self._tick()
        return self.longest_s

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest_s = max(self.longest_s, now - self._last)
        self._last = now
        self.ticks += 1


__all__ = ["StallMeter"]
