"""A 10,000-host fleet fills the table off the GUI thread: the event loop keeps turning
(its longest stall is printed, not asserted: bench/gui.py measures it), and the model
holds every row, sorted and filtered without a Python call per comparison."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from tests.gui.qt import need_qt

need_qt()

from onion.gui import data, tables  # noqa: E402
from onion.gui.stall import StallMeter  # noqa: E402
from onion.gui.window import MainWindow  # noqa: E402
from onion.reports.fleet import FleetRow  # noqa: E402

N = 10_000


class FakeFleet:
    """A source whose fleet is N made-up hosts (the load is not what is measured here)."""

    label = "10,000 made-up hosts"
    is_daemon = False

    def __init__(self, now: dt.datetime) -> None:
        self.now = now


def _rows(now: dt.datetime) -> list[FleetRow]:
    rows = []
    for i in range(N):
        up = i % 97 != 5
        r = FleetRow(f"node{i}", "", "ok" if up else "unreachable", None if up else "timed out",
                     now - dt.timedelta(seconds=30 + (i % 7) * 600), now, "linux", ["rack"])
        r.facts = {"ncpu": 32, "load_1m": (i % 50) / 3, "mem_pct": (i * 7) % 100,
                   "fs_mount": "/var", "fs_pct": (i * 13) % 100, "hot_label": "cpu / core",
                   "hot_c": 40 + i % 50}
        r.rank = 0 if not up else 3
        rows.append(r)
    return sorted(rows, key=lambda r: r.rank)  # problems first, as fleet.load returns them


def test_ten_thousand_rows_fill_without_blocking(qtbot, monkeypatch, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = _rows(now)
    monkeypatch.setattr(data, "load_fleet", lambda src, w: data.FleetSnapshot(
        rows, now, now - w, dt.timedelta(minutes=15)))
    w = MainWindow(FakeFleet(now), refresh_s=0)  # type: ignore[arg-type]
    qtbot.addWidget(w)
    w.show()
    meter = StallMeter(5)
    meter.start()
    t = time.perf_counter()
    assert w.wait_loaded("fleet", 120)
    took = time.perf_counter() - t
    stall = meter.stop()
    print(f"\n{N} rows: loaded and shown in {took:.2f} s, longest event-loop stall "
          f"{stall * 1000:.0f} ms over {meter.ticks} ticks")
    assert meter.ticks > 1  # the loop turned while the worker built the table
    model, proxy = w.fleet.model, w.fleet.proxy
    assert model.rowCount() == proxy.rowCount() == N
    assert "unreachable" in model.index(0, 1).data()      # down hosts first
    assert w.fleet_summary.text().startswith(f"<b>{N}</b> hosts: <b>{len(range(5, N, 97))}")
    proxy.sort(4)  # memory, ascending
    by_name = {r.name: r for r in rows}
    mems = [by_name[proxy.index(i, 0).data()].facts["mem_pct"] for i in range(0, N, 500)]
    assert mems == sorted(mems)
    proxy.setFilterFixedString("node999")
    assert sorted(proxy.index(i, 0).data() for i in range(proxy.rowCount())) == \
        sorted(f"node{i}" for i in range(N) if f"node{i}".startswith("node999"))
    assert isinstance(w.fleet.model.table, tables.Table)
