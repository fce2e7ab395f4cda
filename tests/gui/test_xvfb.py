"""One run on a real X server (Xvfb), the xcb platform a desktop uses, not offscreen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.qt import need_qt

need_qt()

from tests.gui.test_screenshots import colours  # noqa: E402


@pytest.mark.skipif(shutil.which("xvfb-run") is None,
                    reason="xvfb-run is not installed (Debian: apt-get install xvfb)")
def test_fleet_view_under_xvfb(gui_db: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "onion.toml"
    cfg.write_text("")
    out = tmp_path / "fleet.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONION_")}
    env["QT_QPA_PLATFORM"] = "xcb"
    res = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24",
                          sys.executable, "-m", "onion.cli", "gui", "--config", str(cfg),
                          "--db", str(gui_db), "--screenshot", str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert colours(out) > 8


RUN = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from onion.gui import app, data
a = app.application()
QTimer.singleShot(5000, a.quit)   # the window up, a few refreshes (every second), then quit
print("exit", app.run(data.DatabaseSource(Path(sys.argv[1])), "24h", 1.0))
"""


@pytest.mark.skipif(shutil.which("xvfb-run") is None,
                    reason="xvfb-run is not installed (Debian: apt-get install xvfb)")
def test_the_window_runs_and_quits_under_xvfb(gui_db: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    res = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", RUN, str(gui_db)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "exit 0" in res.stdout
    assert "Traceback" not in res.stderr, res.stderr
