"""Finding probes: one registry for built-ins, installed plugins and drop-in files.

Built-in probes are declared as entry points in group ``onion.probes`` exactly like a
third-party plugin's, so a plugin is a peer of the built-ins, not a special case. A
drop-in folder (``[plugins] paths`` in the config) adds single ``*.py`` files that
define ``PROBE``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from onion.poller.errors import ConfigError
from onion.probes.base import Probe

GROUP = "onion.probes"


def _check(obj: object, origin: str) -> Probe:
    if not isinstance(obj, Probe):
        raise ConfigError(f"{origin} does not name a Probe (got {type(obj).__name__})")
    return obj


def installed() -> dict[str, Probe]:
    """Every probe registered through entry points (built-ins included)."""
    found: dict[str, Probe] = {}
    for ep in entry_points(group=GROUP):
        probe = _check(ep.load(), f"entry point {ep.name} = {ep.value}")
        found[probe.name] = probe
    return found


def load_file(path: Path) -> Probe:
    """A drop-in plugin: a Python file that defines PROBE."""
    name = f"onion_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, do not crash with a traceback
        raise ConfigError(f"plugin {path} failed to load: {exc}") from exc
    return _check(getattr(module, "PROBE", None), f"plugin {path}")


def available(plugin_dirs: Iterable[Path] = ()) -> dict[str, Probe]:
    probes = installed()
    for folder in plugin_dirs:
        for path in sorted(Path(folder).glob("*.py")):
            probe = load_file(path)
            probes[probe.name] = probe
    return probes


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
