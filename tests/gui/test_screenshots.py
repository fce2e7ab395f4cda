"""``onion gui --screenshot``: each view is painted to a PNG that is not blank."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.qt import need_qt

need_qt()

from PySide6.QtGui import QImage  # noqa: E402

from onion.core.errors import OnionError  # noqa: E402
from onion.gui import app, data  # noqa: E402

VIEWS = ["fleet", "host:node004", "host:node007", "alerts", "changes", "status"]


def colours(png: Path) -> int:
    """How many different colours a grid of the image's pixels holds."""
    img = QImage(str(png))
    assert not img.isNull(), png
    step = max(1, min(img.width(), img.height()) // 60)
    return len({img.pixel(x, y) for x in range(0, img.width(), step)
                for y in range(0, img.height(), step)})


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_is_drawn(qapp, gui_db: Path, tmp_path: Path, view: str) -> None:
    out = app.screenshot(data.DatabaseSource(gui_db), tmp_path / "view.png", view)
    assert out.stat().st_size > 1000
    assert colours(out) > 8, f"{view}: the picture is (nearly) one colour"


def test_a_wrong_view_is_refused(qapp, gui_db: Path, tmp_path: Path) -> None:
    src = data.DatabaseSource(gui_db)
    with pytest.raises(OnionError, match="host:NAME"):
        app.screenshot(src, tmp_path / "x.png", "host")
    with pytest.raises(OnionError, match="no such host"):
        app.screenshot(src, tmp_path / "x.png", "host:nobody")


def test_the_command_needs_no_display(gui_db: Path, tmp_path: Path) -> None:
    """As from cron on a server: no DISPLAY, no QT_QPA_PLATFORM; offscreen is chosen."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
           and not k.startswith("ONION_")}
    cfg = tmp_path / "onion.toml"
    cfg.write_text("")
    out = tmp_path / "alerts.png"
    res = subprocess.run([sys.executable, "-m", "onion.cli", "gui", "--config", str(cfg),
                          "--db", str(gui_db), "--screenshot", str(out), "--view", "alerts",
                          "--size", "1000x700"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "alerts view written" in res.stdout
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1000, 700)
    assert colours(out) > 8


def test_no_database_is_an_error_not_a_picture(tmp_path: Path) -> None:
    cfg = tmp_path / "onion.toml"
    cfg.write_text("")
    res = subprocess.run([sys.executable, "-m", "onion.cli", "gui", "--config", str(cfg),
                          "--db", str(tmp_path / "none.duckdb"), "--source", "database",
                          "--screenshot", str(tmp_path / "x.png")],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 1 and "no database" in res.stderr
    assert not (tmp_path / "x.png").exists()
