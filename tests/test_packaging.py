"""The wheel installs one import namespace, ``onion``, and nothing else at the top level.

The repository keeps the design's top-level folders (poller/, probes/, reports/,
inventory/ …); pyproject.toml maps each onto ``onion.<part>``. This builds the real wheel
and installs it into a fresh virtual environment, outside the checkout, to prove that
what a user gets works without the repository on ``sys.path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True, cwd=out)
    (whl,) = out.glob("onion_poller-*.whl")
    return whl


def _mapped_folders() -> dict[str, Path]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {pkg: ROOT / folder for pkg, folder in conf["package-dir"].items()}


def test_wheel_has_only_the_onion_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"onion"}, top
    for generic in ("poller", "probes", "reports", "inventory"):
        assert generic not in top


def test_every_source_file_and_template_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    mapped = _mapped_folders()
    missing = []
    for pkg, folder in mapped.items():
        for path in folder.rglob("*"):
            if path.suffix not in (".py", ".html", ".css", ".txt") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(folder)
            # a sub-folder mapped on its own is that package's, not this one's
            if any(folder / Path(*rel.parts[:i]) == f for i in range(1, len(rel.parts))
                   for f in mapped.values()):
                continue
            inside = "/".join([*pkg.split("."), *rel.parts])
            if inside not in names:
                missing.append(inside)
    assert not missing, f"not packaged (add the package to pyproject.toml): {missing}"


def test_installed_wheel_works_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # The test environment's packages stand in for PyPI (no network needed); the wheel
    # itself goes into the new environment, which shadows the editable checkout.
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ONION_CONFIG")}
    env["HOME"] = str(tmp_path)
    code = ("import importlib.util, onion.poller, onion.cli.main as m; "
            "print(onion.poller.__file__); "
            "print([n for n in ('poller', 'probes', 'reports', 'inventory') "
            "if importlib.util.find_spec(n)])")
    out = subprocess.run([py, "-c", code], check=True, cwd=tmp_path, env=env,
                         capture_output=True, text=True).stdout.splitlines()
    assert str(env_dir) in out[0], out
    assert out[1] == "[]", out
    db = tmp_path / "o.duckdb"
    run = subprocess.run([env_dir / "bin" / "onion", "poll", "--db", str(db)], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = subprocess.run([env_dir / "bin" / "onion", "sql", "--db", str(db), "--format",
                           "csv", "SELECT count(*) FROM processes"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert int(rows[1]) > 0
