"""Finding probes through the one plugin registry (:mod:`onion.core.plugins`).

Built-in probes are entry points in group ``onion.probes`` exactly like a third-party
plugin's; a drop-in folder (``[plugins] paths``) adds ``*.py`` files defining ``PROBE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from onion.core.errors import ConfigError, PluginError
from onion.core.plugins import PluginKind, Registry
from onion.probes.base import Probe


def check(obj: Any, origin: str) -> str:
    """A probe plugin must be a Probe; its name is its table's."""
    if not isinstance(obj, Probe):
        raise PluginError(f"{origin}: PROBE must be a Probe, not {type(obj).__name__}")
    return obj.name


def registry(plugin_dirs: Iterable[Path] = ()) -> Registry:
    """A registry holding the probes alone (installed, then drop-ins)."""
    reg = Registry({PluginKind.PROBE: check})
    reg.load_entry_points()
    reg.load_folders(plugin_dirs)
    return reg


def installed() -> dict[str, Probe]:
    """Every probe registered through entry points (built-ins included)."""
    return registry().of(PluginKind.PROBE)


def available(plugin_dirs: Iterable[Path] = ()) -> dict[str, Probe]:
    """Installed probes and those of the drop-in folders."""
    return registry(plugin_dirs).of(PluginKind.PROBE)


def select(probes: dict[str, Probe], enable: Iterable[str] | None = None,
           disable: Iterable[str] = ()) -> list[Probe]:
    """The probes a poll runs: ``enable`` (None: every probe on by default) minus ``disable``."""
    if enable is None:
        chosen = [p for p in probes.values() if p.enabled_by_default]
    else:
        names = list(enable)
        unknown = [n for n in names if n not in probes]
        if unknown:
            raise ConfigError(f"unknown probe(s): {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(probes))}")
        chosen = [probes[n] for n in names]
    drop = set(disable)
    unknown = drop - set(probes)
    if unknown:
        raise ConfigError(f"unknown probe(s) to disable: {', '.join(sorted(unknown))}")
    return sorted((p for p in chosen if p.name not in drop), key=lambda p: p.name)
