"""The window against a real ``onion daemon`` subprocess polling sshd hosts on loopback:
its fleet comes through the API, and "Poll now" makes the daemon run a round."""

from __future__ import annotations

from pathlib import Path

from tests.gui.qt import need_qt

need_qt()

from PySide6.QtCore import Qt  # noqa: E402

from onion.core import config as config_mod  # noqa: E402
from onion.gui import data, tables  # noqa: E402
from onion.gui.window import VIEWS, MainWindow  # noqa: E402
from tests.daemon.conftest import needs_sshd, write_config  # noqa: E402
from tests.gui.test_screenshots import colours  # noqa: E402

pytestmark = needs_sshd


def test_fleet_and_poll_now_through_the_daemon(qtbot, lab, tmp_path: Path, start_daemon,
                                               ) -> None:
    inv = lab.inventory(tmp_path / "hosts.ini", [0, 1])
    # A long interval: no round comes by schedule while the test runs; only asked ones.
    config = write_config(tmp_path / "d", lab, inv, interval="1h", jitter="0s")
    d = start_daemon(config, tmp_path / "daemon.log")
    d.client.post("/api/poll", timeout=120)   # a first round, for the fleet to show
    source = data.choose(config_mod.load(config))
    assert isinstance(source, data.DaemonSource)
    w = MainWindow(source, refresh_s=0)
    qtbot.addWidget(w)
    w.show()
    assert w.wait_loaded("fleet", 60) and "fleet" not in w.errors, w.errors
    t = w.fleet.model.table
    assert sorted(t.keys) == ["node0", "node1"]
    # (Problems are allowed: a loaded test machine, the rule that fires on every poll.)
    assert not {tables.Mark.DOWN, tables.Mark.STALE} & set(t.marks), t.cells
    assert all(c[1].startswith("ok") for c in t.cells), t.cells
    # The host view, through the API's query endpoint: the report's own queries.
    w.open_host("node1")
    qtbot.waitUntil(lambda: w.loaded["host"] > 0, timeout=60_000)
    assert "host" not in w.errors, w.errors
    assert w.host_tables["cpu"].model.rowCount() > 0
    assert w.charts.plots
    # The daemon tab: its status, and Poll now.
    w.tabs.setCurrentIndex(VIEWS.index("status"))
    qtbot.waitUntil(lambda: w.loaded["status"] > 0, timeout=60_000)
    before = d.status()["rounds"]["rounds"]
    assert w.poll_button.isEnabled()
    qtbot.mouseClick(w.poll_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "round done" in w.poll_result.text()
                    or "failed" in w.poll_result.text(), timeout=120_000)
    assert "round done: 2 ok, 0 failed" in w.poll_result.text(), w.poll_result.text()
    s = d.status()
    assert s["rounds"]["rounds"] == before + 1
    assert s["last_round"]["reason"] == "request"
    out = tmp_path / "status.png"
    assert w.grab().save(str(out))
    assert colours(out) > 8
    w.close()


def test_without_a_daemon_poll_now_is_off(qtbot, gui_db: Path) -> None:
    w = MainWindow(data.DatabaseSource(gui_db), refresh_s=0)
    qtbot.addWidget(w)
    assert not w.poll_button.isEnabled()
    assert w.wait_loaded("status", 30)
    texts = [w.status_form.itemAt(i).widget().text() for i in range(w.status_form.count())
             if w.status_form.itemAt(i).widget() is not None]
    assert any("none: reading the database file" in x for x in texts)
