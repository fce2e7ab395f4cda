"""The sink seam: where a round's batch goes. DuckDB is the default; a plain-text JSON
lines folder is built in; PostgreSQL, MySQL, ClickHouse or a central Onion are plugins
of the same shape.

A sink type is a plugin (entry point group ``onion.sinks``, or ``SINK`` in a drop-in
file): a class with a ``kind`` (the ``type`` users write in ``[sinks.NAME]``) and a
``from_config(name, table, context)`` classmethod that returns a :class:`Sink`.

The contract every sink keeps, and the conformance suite (``onion.storage.conformance``)
checks:

- ``write(batch)`` stores the whole batch or nothing (a failure mid-batch leaves no row);
- it is idempotent by ``batch.batch_id``: a batch handed over twice is stored once, and
  the second call answers :attr:`Written.DUPLICATE`;
- tables and columns a batch brings that the sink has not seen are added (old rows read
  NULL there); values of every logical type survive exactly, 2**64-1 counters and NULLs
  included;
- a failure raises :class:`onion.core.errors.SinkError` (or StorageError) with a reason;
  the batch then waits in that sink's queue and is handed over again later.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from onion.core.errors import ConfigError, PluginError
from onion.storage.batch import Batch
from onion.storage.schema import TableSpec


class Written(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"      # it had this batch already: nothing written


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str = ""


@runtime_checkable
class Sink(Protocol):
    name: str

    def open(self) -> None:
        """Connect (or open files). Raises SinkError when the destination is not there."""

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        """Create what these tables need; add columns that are new."""

    def write(self, batch: Batch) -> Written:
        """Store the batch atomically, once."""

    def health(self) -> Health:
        """Whether it can take a batch now, and why not."""

    def close(self) -> None:
        """Release connections and files; safe to call twice."""


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink may need from the application besides its own table."""

    db_path: Path                      # the DuckDB file (the default sink's)
    data_dir: Path                     # where Onion keeps its files: relative paths land here
    settings: Any = None               # the whole Config, for the built-in DuckDB sink
    extra: dict[str, Any] = field(default_factory=dict)


class SinkType(Protocol):
    kind: str

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext) -> Sink: ...


def check_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    """A sink's table names only settings it knows (``type`` is everyone's)."""
    unknown = set(table) - known - {"type"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")


def read_secret(table: Mapping[str, Any], key: str, context: SinkContext,
                where: str) -> str | None:
    """The text of the file a setting names (a password), relative to the data folder;
    None when the setting is not given."""
    value = table.get(key)
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = context.data_dir / path
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{where} {key} {path}: {exc.strerror}") from exc


def check(obj: Any, origin: str) -> str:
    """A sink plugin is a class with ``kind`` and ``from_config``; its name is its kind."""
    kind = getattr(obj, "kind", None)
    if not isinstance(kind, str) or not kind or not callable(getattr(obj, "from_config", None)):
        raise PluginError(f"{origin}: SINK must be a sink type with a `kind` name and a "
                          f"`from_config(name, table, context)` classmethod")
    return kind
