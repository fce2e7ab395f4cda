"""The scan of installed entry points: done once while nothing is installed or removed
(kept between runs, core/installed.py), each distribution's METADATA read once."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onion.core import installed
from onion.core.plugins import PluginKind, Registry


def _dist(folder: Path, name: str, version: str, module: str) -> None:
    """A distribution with one notifier entry point, as pip would leave it."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[onion.notifiers]\n{module} = {module}:NOTIFIER\n")
    (folder / f"{module}.py").write_text("NOTIFIER = object()\n")


def _registry() -> Registry:
    reg = Registry({PluginKind.NOTIFIER: lambda obj, origin: origin.split()[3]})
    reg.load_entry_points()
    return reg


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No scan of this process's, and an empty cache folder."""
    monkeypatch.setattr(installed, "_SCANNED", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.usefixtures("fresh")
def test_a_distribution_installed_meanwhile_is_found(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = _registry().plugins[PluginKind.NOTIFIER]
    assert before["smtp"].builtin and "(onion-poller " in before["smtp"].origin
    _dist(tmp_path, "onion-fake-a", "1.0", "fake_notifier_a")
    monkeypatch.syspath_prepend(str(tmp_path))                  # a new folder on sys.path
    found = _registry().plugins[PluginKind.NOTIFIER]
    assert found["fake_notifier_a"].origin == (
        "entry point onion.notifiers fake_notifier_a = fake_notifier_a:NOTIFIER "
        "(onion-fake-a 1.0)")
    assert not found["fake_notifier_a"].builtin
    _dist(tmp_path, "onion-fake-b", "2.0", "fake_notifier_b")   # installed into that folder
    assert {"fake_notifier_a", "fake_notifier_b", "smtp"} <= set(
        _registry().plugins[PluginKind.NOTIFIER])


@pytest.mark.usefixtures("fresh")
def test_metadata_is_read_once_per_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = importlib.metadata.PathDistribution.read_text

    def counted(self: Any, filename: str) -> str | None:
        text = real(self, filename)
        if filename in ("METADATA", "PKG-INFO") and text is not None:
            reads.append(str(self._path))
        return text

    monkeypatch.setattr(importlib.metadata.PathDistribution, "read_text", counted)
    monkeypatch.setattr(installed, "_SCANNED", [])
    for _ in range(3):                       # a command builds a registry per layer
        assert len(_registry().plugins[PluginKind.NOTIFIER]) >= 4
    assert reads and len(reads) == len(set(reads))


# A command's start: its plugins' origins, Onion's version, and whether importlib.metadata
# was asked for them.
RUN = """
import json, sys
import importlib.metadata as m
asked = []   # Onion's questions (DuckDB asks its own version at import)
real_eps, real_version = m.entry_points, m.version
m.entry_points = lambda *a, **k: asked.append("entry_points") or real_eps(*a, **k)
m.version = lambda name: (name == "onion-poller" and asked.append(name)) or real_version(name)
from onion.core import version
from onion.core.plugins import PluginKind, Registry
reg = Registry({k: (lambda obj, origin: origin.split()[3]) for k in PluginKind})
reg.load_entry_points()
print(json.dumps({"origins": sorted(p.origin for p in reg.all()), "version": version.__version__,
                  "metadata": bool(asked)}))
"""


def _start(cache: Path, extra_path: Path | None = None, cwd: Path | None = None
           ) -> dict[str, Any]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True,
                          text=True, check=True, cwd=cwd)
    return json.loads(done.stdout)


def test_the_next_run_reads_no_metadata_and_finds_the_same(tmp_path: Path) -> None:
    first = _start(tmp_path)
    assert first["metadata"]                    # the first run asked importlib.metadata
    assert any("onion.probes cpu = onion.probes.cpu:PROBE (onion-poller " in o
               for o in first["origins"])
    second = _start(tmp_path)
    assert not second["metadata"]               # the next one did not need it
    assert second["origins"] == first["origins"]
    assert second["version"] == first["version"] == importlib.metadata.version("onion-poller")
    path = tmp_path / "onion" / "installed" / installed.FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_an_install_meanwhile_or_a_damaged_cache_reads_metadata_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _start(cache)
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "onion-fake-c", "3.0", "fake_notifier_c")
    added = _start(cache, site)                 # another sys.path: scanned afresh
    assert added["metadata"]
    assert ("entry point onion.notifiers fake_notifier_c = fake_notifier_c:NOTIFIER "
            "(onion-fake-c 3.0)") in added["origins"]
    assert not _start(cache, site)["metadata"]
    _dist(site, "onion-fake-d", "4.0", "fake_notifier_d")   # installed into that folder
    assert any("fake_notifier_d" in o for o in _start(cache, site)["origins"])
    path = cache / "onion" / "installed" / installed.FILE
    path.write_text("{not json")
    again = _start(cache, site)
    assert again["metadata"] and any("fake_notifier_d" in o for o in again["origins"])
    assert json.loads(path.read_text())["version"] == again["version"]


def test_entry_point_values_load_as_importlib_metadata_loads_them() -> None:
    for value in ("onion.core.installed", "onion.core.installed:scan",
                  "onion.core.installed:EntryPoint.load", "onion.core.installed:scan [extra]"):
        mine = installed.EntryPoint("g", "n", value, None).load()
        theirs = importlib.metadata.EntryPoint("n", value, "g").load()
        assert mine is theirs, value
    with pytest.raises(ValueError):
        installed.EntryPoint("g", "n", "not a value!", None).load()


def test_the_groups_kept_are_the_plugin_kinds() -> None:
    assert set(installed.GROUPS) == {kind.group for kind in PluginKind}


def test_a_file_made_in_the_current_folder_keeps_the_cache(tmp_path: Path) -> None:
    """The current folder is on sys.path (``''``): a database or a report made there is
    no install, and must not cost the next run a scan."""
    work = tmp_path / "work"
    work.mkdir()
    _start(tmp_path / "cache", cwd=work)
    (work / "onion.duckdb").write_text("made by a poll")
    assert not _start(tmp_path / "cache", cwd=work)["metadata"]
