"""The scan of installed entry points: done once per process while nothing is installed
or removed, each distribution's METADATA read once."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

from onion.core import plugins
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
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "_SCANNED", [])


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
    for _ in range(3):                       # a command builds a registry per layer
        assert len(_registry().plugins[PluginKind.NOTIFIER]) >= 4
    assert reads and len(reads) == len(set(reads))
