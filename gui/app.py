"""Starting the desktop view: the window, or one view rendered to a PNG (``--screenshot``)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from onion.core.errors import OnionError
from onion.gui import data
from onion.gui.i18n import _
from onion.gui.windows import DEFAULT


def application() -> object:
    """The process's QApplication (made once; a test's own is reused)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(["onion"])
        app.setApplicationName("onion")
    return app


def settle() -> None:
    """Once the window is built: what was made so far (modules, Qt's wrappers, the window)
    lives as long as the process, so the garbage collector stops walking it. A full
    collection holds every thread, the GUI's too; with a 10,000-host fleet in memory it
    was the longest stall the window had (bench/gui.py prints the collector's pauses)."""
    gc.freeze()


def run(source: data.Source, window: str = DEFAULT, refresh_s: float = 30.0) -> int:
    from onion.gui.window import MainWindow

    app = application()
    w = MainWindow(source, window, refresh_s)
    w.show()
    settle()
    w.refresh("fleet")
    return int(app.exec())  # type: ignore[attr-defined]


def screenshot(source: data.Source, out: Path, view: str = "fleet", window: str = DEFAULT,
               size: tuple[int, int] = (1400, 860), timeout_s: float = 120.0) -> Path:
    """Load ``view`` (``fleet``, ``host:NAME``, ``alerts``, ``changes``, ``status``), paint
    it and write a PNG of the window."""
    from onion.gui.window import VIEWS, MainWindow

    kind, _sep, host = view.partition(":")
    if kind not in VIEWS or (kind == "host") != bool(host):
        raise OnionError(_("--view {view!r}: one of fleet, host:NAME, alerts, changes, status")
                         .format(view=view))
    app = application()
    w = MainWindow(source, window, refresh_s=0)
    w.resize(*size)
    w.show()
    if not w.wait_loaded("fleet", timeout_s):
        raise OnionError(_("the fleet did not load in {s} s").format(s=f"{timeout_s:g}"))
    if "fleet" in w.errors:
        raise OnionError(_("the fleet: {error}").format(error=w.errors["fleet"]))
    if kind == "host":
        if host not in w.hosts:
            raise OnionError(
                _("--view host:{host}: no such host in the database").format(host=host))
        w.host_name = host
        w.host_box.setCurrentText(host)
    if kind != "fleet":
        w.tabs.blockSignals(True)
        w.tabs.setCurrentIndex(VIEWS.index(kind))
        w.tabs.blockSignals(False)
        if not w.wait_loaded(kind, timeout_s):
            raise OnionError(_("the {view} view did not load in {s} s").format(
                view=kind, s=f"{timeout_s:g}"))
        if kind in w.errors:
            raise OnionError(_("the {view} view: {error}").format(view=kind, error=w.errors[kind]))
    app.processEvents()  # type: ignore[attr-defined]
    out.parent.mkdir(parents=True, exist_ok=True)
    if not w.grab().save(str(out), "PNG"):
        raise OnionError(_("cannot write {path}").format(path=out))
    w.close()
    return out


def offscreen_unless_shown() -> None:
    """A screenshot needs no display: Qt's offscreen platform unless one is chosen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


__all__ = ["application", "offscreen_unless_shown", "run", "screenshot"]
