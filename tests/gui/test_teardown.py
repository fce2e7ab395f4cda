"""Charts made and thrown away, as the host view does on every refresh, and the process
still exits cleanly. PySide6 6.12.0 releases a bool once too often as Qt objects go: on
Python 3.11 this very script aborted at exit ("bool_dealloc"), which is why the extras
say <6.12."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.gui.qt import need_qt

need_qt()

SCRIPT = """
import gc
from onion.gui import app
from onion.gui.charts import ChartPanel
from onion.reports.hostpage import ChartGroup
from onion.reports.svg import Chart, Series

app.application()
panel = ChartPanel()
pts = [(float(t), float(t % 7)) for t in range(0, 3000, 10)] + [(5000.0, 1.0)]
for _ in range(6):   # six refreshes of a host with 24 charts of 3 series each
    charts = [Chart(f"c{i}", "%", [Series(s, pts) for s in "abc"], 0.0, 6000.0, 60.0,
                    failed=[100.0]) for i in range(24)]
    panel.show_groups([ChartGroup("g", "g", charts)])
    app.application().processEvents()
gc.collect()
print("done", len(panel.plots))
"""


def test_charts_come_and_go_and_the_process_exits_cleanly() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "done 24" in res.stdout
