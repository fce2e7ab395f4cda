"""The main window: fleet, host, alerts, changes and daemon tabs.

Each tab loads through its own :class:`~onion.gui.worker.Runner` (off the GUI thread);
a timer refreshes the tab in view. Double-clicking a host in the fleet opens its view.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from onion.core.natural import natural_key
from onion.core.version import describe
from onion.gui import data, tables
from onion.gui.charts import ChartPanel
from onion.gui.i18n import _, formats
from onion.gui.models import KEY_ROLE, FilterProxy, TableModel
from onion.gui.windows import DEFAULT, WINDOWS
from onion.gui.worker import Runner
from onion.reports.filters import number

VIEWS = ("fleet", "host", "alerts", "changes", "status")


@dataclass(slots=True)
class FleetView:
    """A fleet load as the window shows it, computed off the GUI thread."""

    table: tables.Table
    names: list[str]                    # host names in natural order, for the host list
    counts: dict[tables.Mark, int]
    firing: int
    warning: str                        # the answer is incomplete, and why


class TablePane(QWidget):
    """A sortable table with a filter box and a line saying how many rows show."""

    def __init__(self, title: str = "", filterable: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TableModel(parent=self)
        self.proxy = FilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        # Unsorted until a header is clicked: rows come in their meaning's order (problems
        # first, busiest process first).
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)
        self.proxy.sort(-1)
        self.view.setAlternatingRowColors(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        # Fixed row heights and interactive columns: sizing to contents would measure
        # every cell of a 10,000-row table on each refresh.
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setWordWrap(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.title = QLabel(f"<b>{title}</b>" if title else "")
        top.addWidget(self.title)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText(_("Filter (any column)"))
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.count = QLabel()
        if filterable:
            top.addWidget(self.filter, 1)
        else:
            top.addStretch(1)
        top.addWidget(self.count)
        box.addLayout(top)
        box.addWidget(self.view)
        self._sized = False

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self._count()

    def _count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(_("{shown} of {total}").format(shown=shown, total=total)
                           if shown != total else f"{total}")

    def set_table(self, table: tables.Table) -> None:
        self.model.set_table(table)  # keeps the sort the user chose
        if not self._sized and table.rows:
            # Size the columns once, from the first rows only (cheap), then leave them.
            for c in range(len(table.columns)):
                width = max([len(table.columns[c]), *(len(r[c]) for r in table.cells[:50])])
                self.view.setColumnWidth(c, min(30 + 7 * width, 360))
            self._sized = True
        self._count()

    def key_at(self, row: int) -> str:
        return str(self.proxy.index(row, 0).data(KEY_ROLE) or "")


class MainWindow(QMainWindow):
    def __init__(self, source: data.Source, window: str = "24h",
                 refresh_s: float = 30.0) -> None:
        super().__init__()
        self.source = source
        self.setWindowTitle(f"Onion — {source.label}")
        self.resize(1400, 860)
        self.window_len = WINDOWS.get(window) or WINDOWS[DEFAULT]
        self.hosts: list[str] = []
        self.host_name: str | None = None
        self.runners: dict[str, Runner] = {}
        self.loaded: dict[str, int] = dict.fromkeys(VIEWS, 0)   # loads finished, per view
        self.errors: dict[str, str] = {}                         # the last load's, per view
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self._build_fleet()
        self._build_host()
        self._build_alerts()
        self._build_changes()
        self._build_status()
        self.tabs.currentChanged.connect(lambda _i: self.refresh_current())
        self.statusBar().showMessage(_("Loading…"))
        self.version = QLabel(f"onion {describe()}")
        self.statusBar().addPermanentWidget(self.version)
        refresh = QAction(_("Refresh"), self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh_current)
        self.addAction(refresh)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        if refresh_s > 0:
            self.timer.start(int(refresh_s * 1000))

    # -- building -------------------------------------------------------------------

    def _runner(self, view: str, done: Callable[[Any], None]) -> Runner:
        r = Runner(self)
        r.finished.connect(done)
        r.finished.connect(lambda _res, v=view: self._finished(v))
        r.error.connect(lambda msg, v=view: self._failed(v, msg))
        self.runners[view] = r
        return r

    def _window_box(self) -> QComboBox:
        box = QComboBox()
        box.addItems(list(WINDOWS))
        current = next((k for k, v in WINDOWS.items() if v == self.window_len), DEFAULT)
        box.setCurrentText(current)
        box.currentTextChanged.connect(self._set_window)
        return box

    def _build_fleet(self) -> None:
        self.fleet = TablePane()
        self.fleet.view.doubleClicked.connect(
            lambda idx: self.open_host(self.fleet.key_at(idx.row())))
        self.fleet_summary = QLabel()
        page = QWidget()
        box = QVBoxLayout(page)
        top = QHBoxLayout()
        top.addWidget(self.fleet_summary, 1)
        top.addWidget(QLabel(_("Window")))
        top.addWidget(self._window_box())
        box.addLayout(top)
        box.addWidget(self.fleet)
        self.tabs.addTab(page, _("Fleet"))
        self._runner("fleet", self._show_fleet)

    def _build_host(self) -> None:
        page = QWidget()
        box = QVBoxLayout(page)
        top = QHBoxLayout()
        self.host_box = QComboBox()
        self.host_box.setEditable(True)
        self.host_box.setMinimumWidth(280)
        self.host_box.activated.connect(lambda _i: self.open_host(self.host_box.currentText()))
        top.addWidget(QLabel(_("Host")))
        top.addWidget(self.host_box)
        self.host_head = QLabel()
        self.host_head.setWordWrap(True)
        top.addWidget(self.host_head, 1)
        top.addWidget(QLabel(_("Window")))
        top.addWidget(self._window_box())
        box.addLayout(top)
        split = QSplitter(Qt.Orientation.Vertical)
        self.charts = ChartPanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.charts)
        split.addWidget(scroll)
        self.host_tabs = QTabWidget()
        self.host_tables: dict[str, TablePane] = {}
        for key, title in (("cpu", _("Top processes (CPU)")), ("mem", _("Top processes (memory)")),
                           ("fs", _("File systems")), ("net", _("Network rates")),
                           ("disk", _("Disk rates")), ("gpu", _("GPUs")),
                           ("gpu_users", _("GPU users")), ("probes", _("Probes")),
                           ("polls", _("Polls"))):
            pane = TablePane()
            self.host_tables[key] = pane
            self.host_tabs.addTab(pane, title)
        split.addWidget(self.host_tabs)
        split.setSizes([520, 300])
        box.addWidget(split)
        self.tabs.addTab(page, _("Host"))
        self._runner("host", self._show_host)

    def _build_alerts(self) -> None:
        page = QSplitter(Qt.Orientation.Vertical)
        self.alerts_now = TablePane(_("Current alerts (firing first)"))
        self.alerts_history = TablePane(_("History"))
        page.addWidget(self.alerts_now)
        page.addWidget(self.alerts_history)
        self.tabs.addTab(page, _("Alerts"))
        self._runner("alerts", self._show_alerts)

    def _build_changes(self) -> None:
        self.changes = TablePane(_("Changes in the window"))
        self.tabs.addTab(self.changes, _("Changes"))
        self._runner("changes", self._show_changes)

    def _build_status(self) -> None:
        page = QWidget()
        box = QVBoxLayout(page)
        self.status_form = QFormLayout()
        box.addLayout(self.status_form)
        row = QHBoxLayout()
        self.poll_button = QPushButton(_("Poll now"))
        self.poll_button.setEnabled(self.source.is_daemon)
        self.poll_button.setToolTip(_("Ask the daemon for a round now: every host, or those "
                                      "the pattern beside picks")
                                    if self.source.is_daemon else
                                    _("Needs a running daemon (`onion daemon`)"))
        self.poll_button.clicked.connect(self.poll_now)
        row.addWidget(self.poll_button)
        self.poll_limit = QLineEdit()
        self.poll_limit.setPlaceholderText(_("hosts: all, or a pattern (gpu*, rack1, !node3)"))
        self.poll_limit.setEnabled(self.source.is_daemon)
        self.poll_limit.returnPressed.connect(self.poll_now)
        row.addWidget(self.poll_limit)
        self.poll_result = QLabel()
        self.poll_result.setTextFormat(Qt.TextFormat.PlainText)  # holds the daemon's errors
        row.addWidget(self.poll_result, 1)
        box.addLayout(row)
        box.addStretch(1)
        self.tabs.addTab(page, _("Daemon"))
        self._runner("status", self._show_status)
        self.poller = Runner(self)
        self.poller.finished.connect(self._polled)
        self.poller.error.connect(self._poll_failed)

    # -- loading --------------------------------------------------------------------

    def view_name(self) -> str:
        return VIEWS[self.tabs.currentIndex()]

    def refresh(self, view: str) -> bool:
        """Start loading ``view``; False when there is nothing to load (no host chosen)."""
        src, w = self.source, self.window_len
        if view == "fleet":
            self.runners[view].start(lambda: self._fleet_work(src, w))
        elif view == "host":
            if not self.host_name and self.fleet.model.table.keys:
                self.host_name = self.fleet.model.table.keys[0]   # the most to look at
                self.host_box.setCurrentText(self.host_name)
            if not self.host_name:
                return False
            name = self.host_name
            self.runners[view].start(lambda: data.load_host(src, name, w))
        elif view == "alerts":
            self.runners[view].start(lambda: tables.alerts_tables(data.load_alerts(src, w)))
        elif view == "changes":
            self.runners[view].start(lambda: tables.changes_table(data.load_changes(src, w)))
        elif view == "status":
            self.runners[view].start(src.status)
        return True

    @staticmethod
    def _fleet_work(src: data.Source, w: dt.timedelta) -> FleetView:
        # All of it on the worker: the GUI thread only swaps the model's table in.
        snap = data.load_fleet(src, w)
        table = tables.fleet_table(snap)
        counts = {m: 0 for m in tables.Mark}
        for m in table.marks:
            counts[m] += 1
        # The snapshot's rows are dropped here, on the worker: only the table's text lives
        # on, so the garbage collector has less to walk on the GUI thread's time.
        return FleetView(table, sorted(table.keys, key=natural_key), counts,
                         sum(len(r.alerts) for r in snap.rows), snap.warning)

    def refresh_current(self) -> None:
        view = self.view_name()
        self.refresh(view)
        if view != "fleet" and not self.loaded["fleet"]:
            self.refresh("fleet")  # the host list comes with it

    def _tick(self) -> None:
        # The fleet stays current (its host list feeds the host view); and the tab shown.
        if not self.runners["fleet"].busy:
            self.refresh("fleet")
        view = self.view_name()
        if view != "fleet" and not self.runners[view].busy:
            self.refresh(view)

    def _set_window(self, text: str) -> None:
        self.window_len = WINDOWS[text]
        for box in self.findChildren(QComboBox):
            if box is not self.host_box and box.currentText() != text:
                box.blockSignals(True)
                box.setCurrentText(text)
                box.blockSignals(False)
        self.refresh_current()

    def _finished(self, view: str) -> None:
        self.loaded[view] += 1
        self.errors.pop(view, None)
        self.statusBar().showMessage(
            _("Updated {when} UTC from {source}").format(
                when=formats().clock(dt.datetime.now(dt.UTC), "%H:%M:%S"),
                source=self.source.label))

    def _failed(self, view: str, message: str) -> None:
        self.loaded[view] += 1
        self.errors[view] = message
        self.statusBar().showMessage(_("{view}: {message}").format(view=view, message=message))

    def wait_loaded(self, view: str, timeout_s: float = 120.0) -> bool:
        """Run the event loop until ``view`` has loaded once more (for screenshots, tests)."""
        want = self.loaded[view] + 1
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        check = QTimer()

        def done() -> None:
            if self.loaded[view] >= want:
                loop.quit()

        check.timeout.connect(done)
        check.start(20)
        timer.start(int(timeout_s * 1000))
        if not self.refresh(view):
            check.stop()
            timer.stop()
            return False
        if self.loaded[view] < want:
            loop.exec()
        check.stop()
        timer.stop()
        return self.loaded[view] >= want

    # -- showing --------------------------------------------------------------------

    def _show_fleet(self, result: FleetView) -> None:
        self.fleet.set_table(result.table)
        c = result.counts
        self.fleet_summary.setText(
            _("<b>{hosts}</b> hosts: <b>{down}</b> down, <b>{stale}</b> stale, "
              "<b>{problems}</b> with problems, <b>{firing}</b> alerts firing").format(
                hosts=result.table.rows, down=c[tables.Mark.DOWN], stale=c[tables.Mark.STALE],
                problems=c[tables.Mark.PROBLEM], firing=result.firing)
            + (f" — <b>{html.escape(result.warning)}</b>" if result.warning else ""))
        if result.names != self.hosts:
            self.hosts = result.names
            current = self.host_box.currentText()
            self.host_box.blockSignals(True)
            self.host_box.clear()
            self.host_box.addItems(result.names)
            self.host_box.setCurrentText(current)
            self.host_box.blockSignals(False)

    def open_host(self, name: str) -> None:
        if not name:
            return
        self.host_name = name
        self.host_box.setCurrentText(name)
        self.tabs.setCurrentIndex(VIEWS.index("host"))
        self.refresh("host")

    def _show_host(self, snap: data.HostSnapshot) -> None:
        page = snap.page
        if page is None:
            self.host_head.setText(html.escape(
                _("{host}: not in the database").format(host=snap.name)))
            self.charts.show_groups([])
            for pane in self.host_tables.values():
                pane.set_table(tables.Table([]))
            return
        r = page.row
        f = r.facts
        # Every part but the markup is what a host said: escaped, never read as HTML.
        e = html.escape
        self.host_head.setText(
            f"<b>{e(r.status)}</b>" + (f" — {e(r.reason)}" if r.reason else "") +
            f" · {e(str(f.get('distro_name') or r.os or ''))} "
            f"{e(str(f.get('distro_version') or ''))}"
            f" · {e(str(f.get('kernel_release') or ''))} · "
            + _("{n} processes").format(n=page.process_count)
            + (" · " + e("; ".join(r.problems)) if r.problems else ""))
        self.charts.show_groups(page.groups)
        proc_cols = ["pid", "user", "cpu_pct", "mem_pct", "rss_bytes", "comm", "args"]
        t = self.host_tables
        t["cpu"].set_table(tables.dict_table(page.top_cpu, _have(page.top_cpu, proc_cols)))
        t["mem"].set_table(tables.dict_table(page.top_mem, _have(page.top_mem, proc_cols)))
        t["fs"].set_table(tables.dict_table(snap.filesystems))
        t["net"].set_table(tables.dict_table(snap.network))
        t["disk"].set_table(tables.dict_table(snap.disks))
        t["gpu"].set_table(tables.dict_table(page.gpus))
        t["gpu_users"].set_table(tables.dict_table(page.gpu_users))
        t["probes"].set_table(tables.dict_table(page.probes))
        t["polls"].set_table(tables.dict_table(page.polls))

    def _show_alerts(self, result: tuple[tables.Table, tables.Table]) -> None:
        self.alerts_now.set_table(result[0])
        self.alerts_history.set_table(result[1])

    def _show_changes(self, table: tables.Table) -> None:
        self.changes.set_table(table)

    def _show_status(self, status: dict[str, Any] | None) -> None:
        while self.status_form.rowCount():
            self.status_form.removeRow(0)
        for label, value in tables.status_lines(status, self.source.label):
            v = QLabel(value)
            v.setTextFormat(Qt.TextFormat.PlainText)
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            v.setWordWrap(True)
            self.status_form.addRow(f"<b>{label}</b>", v)
        if status and status.get("round_running"):
            self.poll_result.setText(_("a round is running"))

    # -- poll now -------------------------------------------------------------------

    def poll_now(self) -> None:
        self.poll_button.setEnabled(False)
        self.poll_result.setText(_("polling…"))
        limit = self.poll_limit.text().strip() or None
        self.poller.start(lambda: self.source.poll_now(limit))

    def _polled(self, rec: dict[str, Any]) -> None:
        self.poll_button.setEnabled(True)
        self.poll_result.setText(_("round done: {ok} ok, {failed} failed in {wall}").format(
            ok=rec.get("ok"), failed=rec.get("failed"), wall=number(rec.get("wall_s"), 1, "s")))
        self.refresh("status")
        self.refresh("fleet")

    def _poll_failed(self, message: str) -> None:
        self.poll_button.setEnabled(self.source.is_daemon)
        self.poll_result.setText(_("poll now failed: {message}").format(message=message))


def _have(rows: list[dict[str, Any]], wanted: list[str]) -> list[str] | None:
    """The wanted columns the rows have (all the rows' own when none of them)."""
    if not rows:
        return None
    cols = [c for c in wanted if c in rows[0]]
    return cols or None


__all__ = ["VIEWS", "MainWindow", "TablePane"]
