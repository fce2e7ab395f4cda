"""Whether Qt is here: in CI a PySide6 that fails to import is a failure, elsewhere a skip."""

from __future__ import annotations

import importlib
import os

import pytest


def need_qt() -> None:
    """Call at the top of a test module, before anything imports Qt."""
    names = ("PySide6.QtWidgets", "pyqtgraph", "pytestqt")
    if os.environ.get("CI") == "true":
        for name in names:
            importlib.import_module(name)  # CI installs the test extra: this must work
        return
    for name in names:
        pytest.importorskip(name, reason=f"{name} is not installed: pip install -e '.[test]'")
