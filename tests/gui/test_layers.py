"""The desktop view is a client on top: nothing imports it, and no verb but ``onion gui``
(and that one only when it runs) imports Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN = {ROOT / "cli" / "gui.py"}


def test_nothing_imports_the_gui() -> None:
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        top = path.relative_to(ROOT).parts[0]
        if top in ("gui", "tests", "bench", "build", "dist", "docs") or path in OWN \
                or top.startswith("."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.startswith(("onion.gui", "PySide6", "pyqtgraph"))]
    assert not offenders


def test_help_never_loads_qt() -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom onion.cli.main import main\n"
            "for args in (['--help'], ['gui', '--help'], ['--version']):\n"
            "    r = CliRunner().invoke(main, args)\n"
            "    assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', "
            "'shiboken')) or m in ('onion.gui.window', 'onion.gui.models')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
