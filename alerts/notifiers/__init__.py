"""Notifiers: where messages go. Each is a plugin found through the entry point group
``onion.notifiers`` (the built-ins too), picked by a ``[notifiers.<name>]`` table's
``type``.

A plugin is an object with ``from_config(name, table, timeout) -> Notifier``; a Notifier
has a ``name`` and ``send(message)``, which delivers one message or raises
:class:`NotifyError` with the reason. Sending is synchronous and must end within the
timeout it was given. A message that fails waits in the outbox for the next run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from onion.alerts.messages import Message
from onion.core.errors import ConfigError, OnionError, PluginError
from onion.core.plugins import PluginKind, Registry

GROUP = "onion.notifiers"


class NotifyError(OnionError):
    """A message was not delivered (server down, refused, timed out); it is retried."""


class Notifier(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


class NotifierPlugin(Protocol):
    def from_config(self, name: str, table: Mapping[str, Any], timeout: float) -> Notifier: ...


def check(obj: Any, origin: str) -> str:
    """A notifier plugin has a ``kind`` (its ``type``) and ``from_config``."""
    kind = getattr(obj, "kind", None)
    if not callable(getattr(obj, "from_config", None)):
        raise PluginError(f"{origin}: NOTIFIER must be a notifier type with "
                          "`from_config(name, table, timeout)`")
    if not isinstance(kind, str) or not kind:
        raise PluginError(f"{origin}: NOTIFIER needs a `kind`, the type users write")
    return kind


def plugins(folders: Iterable[Path] = ()) -> dict[str, NotifierPlugin]:
    """Notifier types by name (smtp, webhook, command, apprise, and any plugin's)."""
    reg = Registry({PluginKind.NOTIFIER: check})
    reg.load_entry_points()
    reg.load_folders(folders)
    return reg.of(PluginKind.NOTIFIER)


def configure(name: str, table: Mapping[str, Any], timeout: float,
              found: Mapping[str, NotifierPlugin] | None = None) -> Notifier:
    """The notifier a ``[notifiers.<name>]`` table describes."""
    kind = table.get("type")
    found = plugins() if found is None else found
    if not isinstance(kind, str) or kind not in found:
        raise ConfigError(f"[notifiers.{name}] type must be one of "
                          f"{', '.join(sorted(found))}, not {kind!r}")
    settings = {k: v for k, v in table.items() if k != "type"}
    return found[kind].from_config(name, settings, timeout)


class Deadline:
    """One deadline for a whole send. Socket timeouts bound each read, not the send: a
    server that drips a byte a second keeps a request alive for ever. :meth:`guard` cuts
    the connection when the deadline passes, which ends whatever call is blocked on it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(0.001, self.end - time.monotonic())

    def guard(self, current: Callable[[], socket.socket | None]) -> None:
        """At the deadline, shut down the socket ``current()`` names then (STARTTLS swaps
        a connection's socket for a new one midway)."""
        self._timer = threading.Timer(self.remaining(), self._cut, [current])
        self._timer.daemon = True
        self._timer.start()

    def _cut(self, current: Callable[[], socket.socket | None]) -> None:
        self.expired = True
        sock = current()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


S = TypeVar("S")


def settings(cls: type[S], table: Mapping[str, Any], where: str) -> S:
    """A settings dataclass filled from a config table: unknown keys and wrong types refused."""
    obj = cls()
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: type, "
                              f"{', '.join(sorted(known))})")
        expected = typing.get_origin(hints[key]) or hints[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(f"{where}: {key} must be {expected.__name__}, not "
                              f"{type(value).__name__} ({value!r})")
        if expected is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        if expected is dict and not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: {key} values must be strings")
        setattr(obj, key, value)
    return obj


def secret(value: str, path: str, what: str, where: str) -> str:
    """A secret given inline or in a file (which keeps it out of the config)."""
    if value and path:
        raise ConfigError(f"{where}: give {what} or {what}_file, not both")
    if path:
        try:
            return Path(path).expanduser().read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {what}_file: {exc}") from exc
    return value
