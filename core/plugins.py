"""One registry for every kind of plugin: probes, sinks and notifiers.

Plugins come from two places, and built-ins take the first path exactly like third-party
code:

- entry points, group ``onion.probes`` / ``onion.sinks`` / ``onion.notifiers``;
- drop-in files: each ``*.py`` in a folder named by ``[plugins] paths``, defining any of
  ``PROBE``, ``SINK`` and ``NOTIFIER`` (a list of them is fine too).

What each kind must be is checked by the layer that owns it (:data:`Kind.check`), so this
module knows no probe or sink. Two plugins of one kind with one name are refused, both
origins named; a configured folder that does not exist is an error; a plugin that fails
to import costs only itself: it is left out, and the error (one line, naming it) is kept
for ``onion plugins`` and said once by the command line.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onion.core import installed
from onion.core.errors import PluginError
from onion.core.installed import EntryPoint

log = logging.getLogger("onion.plugins")


class PluginKind(enum.StrEnum):
    PROBE = "probe"
    SINK = "sink"
    NOTIFIER = "notifier"

    @property
    def group(self) -> str:
        return f"onion.{self.value}s"

    @property
    def attribute(self) -> str:
        """What a drop-in file defines for this kind."""
        return self.value.upper()


# kind -> check(obj, origin) -> the plugin's name; raises PluginError if obj is not one
Check = Callable[[Any, str], str]


@dataclass(frozen=True, slots=True)
class Plugin:
    kind: PluginKind
    name: str
    obj: Any
    origin: str          # "entry point onion.probes cpu = onion.probes.cpu:PROBE (onion-poller)"
    builtin: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "name": self.name, "origin": self.origin,
                "builtin": self.builtin}


@dataclass(slots=True)
class Registry:
    checks: dict[PluginKind, Check]
    plugins: dict[PluginKind, dict[str, Plugin]] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)   # one line per plugin left out

    def add(self, kind: PluginKind, obj: Any, origin: str, builtin: bool = False) -> Plugin:
        name = self.checks[kind](obj, origin)
        mine = self.plugins.setdefault(kind, {})
        if name in mine:
            raise PluginError(f"two {kind.value} plugins are named {name!r}: "
                              f"{mine[name].origin} and {origin}; rename or remove one")
        plugin = Plugin(kind, name, obj, origin, builtin)
        mine[name] = plugin
        return plugin

    def of(self, kind: PluginKind) -> dict[str, Any]:
        """name -> the plugin's object (a Probe, a sink type, a notifier type)."""
        return {n: p.obj for n, p in self.plugins.get(kind, {}).items()}

    def all(self) -> list[Plugin]:
        return [p for kind in PluginKind for p in
                sorted(self.plugins.get(kind, {}).values(), key=lambda p: p.name)]

    # -- finding them -------------------------------------------------------------------

    def load_entry_points(self, kinds: Iterable[PluginKind] | None = None,
                          pick: Callable[[PluginKind, str], bool] | None = None) -> None:
        """The installed plugins of these kinds; ``pick(kind, name)``: only the entry points
        it says yes to, because importing a plugin can cost more than the command that does
        not use it (a database driver, for a poll)."""
        scan = installed.scan()
        for kind in kinds or list(self.checks):
            for ep in scan.of(kind.group):
                if pick is not None and not pick(kind, ep.name):
                    continue
                origin = _ep_origin(ep)
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken installed plugin costs only itself
                    self._broken(f"{kind.value} plugin {ep.name!r} ({origin}) cannot be "
                                 f"loaded: {type(exc).__name__}: {exc}", exc)
                    continue
                builtin = ep.dist is not None and ep.dist[0] == installed.DISTRIBUTION
                self.add(kind, obj, origin, builtin)

    def load_folders(self, folders: Iterable[Path]) -> None:
        for folder in folders:
            folder = Path(folder).expanduser()
            if not folder.is_dir():
                raise PluginError(f"[plugins] paths names {folder}, which is not a folder")
            for path in sorted(folder.glob("*.py")):
                self.load_file(path)

    def load_file(self, path: Path) -> list[Plugin]:
        try:
            module = import_file(path)
        except PluginError as exc:
            self._broken(str(exc), exc.__cause__)
            return []
        found = []
        for kind in self.checks:
            value = getattr(module, kind.attribute, None)
            if value is None:
                continue
            for obj in value if isinstance(value, list | tuple) else [value]:
                found.append(self.add(kind, obj, f"file {path}"))
        if not found:
            self._broken(f"plugin file {path} defines none of "
                         f"{', '.join(k.attribute for k in self.checks)}", None)
        return found

    def _broken(self, line: str, exc: BaseException | None) -> None:
        self.broken.append(line)
        log.debug("%s", line, exc_info=exc)


# Drop-in modules already run in this process, by file and version: a command builds
# registries in more than one layer (probes, notifiers, sinks), and a file's code must run
# once, so that every layer sees the same objects.
_IMPORTED: dict[tuple[Path, int, int], Any] = {}


def import_file(path: Path) -> Any:
    """Import one drop-in file as a module of its own; its errors become PluginError."""
    try:
        st = path.stat()
    except OSError as exc:
        raise PluginError(f"cannot read plugin file {path}: {exc.strerror}") from exc
    key = (path.resolve(), st.st_mtime_ns, st.st_size)
    if key not in _IMPORTED:
        try:
            _IMPORTED[key] = _exec_file(path)
        except PluginError as exc:
            _IMPORTED[key] = exc  # a broken file is not run again either
    found = _IMPORTED[key]
    if isinstance(found, PluginError):
        raise found
    return found


def _exec_file(path: Path) -> Any:
    name = f"onion_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: one line naming it, never a traceback
        sys.modules.pop(name, None)
        raise PluginError(f"plugin file {path} failed to load: "
                          f"{type(exc).__name__}: {exc}") from exc
    return module


def _ep_origin(ep: EntryPoint) -> str:
    where = f" ({ep.dist[0]} {ep.dist[1]})" if ep.dist is not None else ""
    return f"entry point {ep.group} {ep.name} = {ep.value}{where}"
