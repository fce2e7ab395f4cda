"""What is installed: the entry points of Onion's plugin groups and Onion's own version,
read through importlib.metadata once and kept between runs.

Reading every distribution's ``entry_points.txt`` costs 17 ms of CPU with 141
distributions, Onion's version 4 ms more, and importing importlib.metadata (which pulls
in the ``email`` package) 20-27 ms for the commands that import no DuckDB (whose
``_version`` imports it). The answer changes only when a distribution is installed or
removed. Each installed distribution has a
``*.dist-info`` (or ``*.egg-info``) folder in a ``sys.path`` entry, written afresh by
every install. The answer is kept in ``$XDG_CACHE_HOME/onion/installed`` under
``sys.path`` and those folders' names and mtimes, and importlib.metadata is imported
only when they changed (or there is no cache).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from onion.core.files import cache_dir, write_private

GROUPS = ("onion.probes", "onion.sinks", "onion.notifiers")
DISTRIBUTION = "onion-poller"
FILE = f"installed.{sys.implementation.cache_tag}.json"
# importlib.metadata.EntryPoint.pattern: ``module:attr.attr [extras]``
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPoint:
    """One entry point of an Onion group, and the distribution that declares it."""

    __slots__ = ("dist", "group", "name", "value")

    def __init__(self, group: str, name: str, value: str,
                 dist: tuple[str, str] | None) -> None:
        self.group, self.name, self.value, self.dist = group, name, value, dist

    def load(self) -> Any:
        """The object it names, imported (what ``importlib.metadata.EntryPoint.load``
        does)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point value {self.value!r} is not module:attribute")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


class Installed:
    __slots__ = ("entry_points", "key", "version")

    def __init__(self, key: list[list[Any]], entry_points: list[EntryPoint],
                 version: str | None) -> None:
        self.key, self.entry_points, self.version = key, entry_points, version

    def of(self, group: str) -> list[EntryPoint]:
        return [ep for ep in self.entry_points if ep.group == group]


_SCANNED: list[Installed] = []


def scan() -> Installed:
    """What is installed now: from this process's last scan, the cache, or
    importlib.metadata, whichever is still true."""
    key = [[p, _dists_in(p)] for p in sys.path]
    if _SCANNED and _SCANNED[0].key == key:
        return _SCANNED[0]
    folder = cache_dir("installed")
    path = folder / FILE if folder else None
    found = _read(path, key) if path else None
    if found is None:
        found = _metadata(key)
        if path is not None:
            _write(path, found)
    _SCANNED[:] = [found]
    return found


def version() -> str | None:
    """Onion's installed version; None in a source tree that was never installed."""
    return scan().version


def _dists_in(path: str) -> list[list[Any]] | int | None:
    """What says a distribution is installed in one ``sys.path`` entry: each
    ``*.dist-info``/``*.egg-info`` in it and its mtime (pip writes one afresh for every
    install), or a zip file's mtime. Not the folder's own mtime: the current folder and
    the script's change whenever a file is made there (a database, a report)."""
    try:
        with os.scandir(path or ".") as entries:
            return sorted([e.name, e.stat().st_mtime_ns] for e in entries
                          if e.name.endswith((".dist-info", ".egg-info")))
    except NotADirectoryError:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None
    except OSError:
        return None


def _metadata(key: list[list[Any]]) -> Installed:
    from importlib.metadata import PackageNotFoundError, entry_points
    from importlib.metadata import version as dist_version

    dists: dict[int, tuple[str, str]] = {}   # METADATA parsed once per distribution
    found = []
    every = entry_points()
    for group in GROUPS:
        for ep in every.select(group=group):
            dist = None
            if ep.dist is not None:
                dist = dists.get(id(ep.dist))
                if dist is None:
                    meta = ep.dist.metadata
                    dist = dists[id(ep.dist)] = (meta["Name"], meta["Version"])
            found.append(EntryPoint(group, ep.name, ep.value, dist))
    # Onion's own entry points say its version (its METADATA read once more otherwise).
    mine = next((ep.dist[1] for ep in found if ep.dist and ep.dist[0] == DISTRIBUTION), None)
    if mine is None:
        try:
            mine = dist_version(DISTRIBUTION)
        except PackageNotFoundError:
            mine = None
    return Installed(key, found, mine)


def _read(path: Path, key: list[list[Any]]) -> Installed | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != key:
            return None
        eps = [EntryPoint(g, n, v, tuple(d) if d else None)  # type: ignore[arg-type]
               for g, n, v, d in data["entry_points"]]
        return Installed(key, eps, data["version"])
    except (OSError, ValueError, KeyError, TypeError):   # none yet, or damaged
        return None


def _write(path: Path, found: Installed) -> None:
    data = {"key": found.key, "version": found.version,
            "entry_points": [[ep.group, ep.name, ep.value, ep.dist]
                             for ep in found.entry_points]}
    try:
        write_private(path, json.dumps(data))
    except OSError:
        pass   # the next run reads importlib.metadata again: slower, not wrong
