"""A host whose every remote string is markup: the window shows it as text, never as
rich text (a QLabel would otherwise read ``<img src=…>`` and load the file)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb

from tests.gui.qt import need_qt

need_qt()

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from onion.gui import data  # noqa: E402
from onion.gui.window import MainWindow  # noqa: E402
from tests.reports.conftest import EVIL_HOST, IMG, add_hostile_host  # noqa: E402


def test_remote_strings_are_text(qtbot, gui_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "evil.duckdb"
    shutil.copy(gui_db, db)
    with duckdb.connect(str(db)) as con:
        add_hostile_host(con, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))
    w = MainWindow(data.DatabaseSource(db), refresh_s=0)
    qtbot.addWidget(w)
    w.show()
    assert w.wait_loaded("fleet", 60) and EVIL_HOST in w.hosts
    w.host_name = EVIL_HOST
    assert w.wait_loaded("host", 60) and "host" not in w.errors, w.errors
    head = w.host_head.text()
    assert "<img" not in head and "&lt;img" in head
    for label in w.charts.findChildren(QLabel):
        text = label.text()
        if label.textFormat() != Qt.TextFormat.PlainText:
            assert "<img" not in text and "<script" not in text, text
    # The tables hold the exact strings (a model's cells are never markup).
    cells = [c for row in w.host_tables["cpu"].model.table.cells for c in row]
    assert any(IMG in c or "<script>" in c for c in cells)
