"""The probe contract: what a data kind declares, and the errors its parsers raise.

A probe names its table, its record type, a POSIX ``sh`` fragment per OS (one or more
*parts*, each run as its own framed section of the host's single script) and a parser
per OS. Parsers are pure: ``parse(parts) -> list[record]`` where ``parts`` maps a part
name to the text that part printed. A part that failed or did not run is absent. A
parser that yields many rows per host (processes) may return a :class:`Table` instead:
the same records held column by column, which is how they are stored anyway.

Errors (from :mod:`onion.core.errors`, re-exported here for parsers)::

    ProbeError
     ├── ParseError     the output is not what the parser knows; costs one probe on one host
     └── Unavailable    the tool is missing or not working on that host; recorded, not an error
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import math
import operator
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import NoneType
from typing import Any

from onion.core.errors import ParseError, ProbeError, Unavailable
from onion.core.types import FLOAT_LIMITS, INT_RANGES, LogicalType, logical


class OS(enum.StrEnum):
    LINUX = "linux"
    FREEBSD = "freebsd"
    OPENBSD = "openbsd"
    MACOS = "macos"
    NETBSD = "netbsd"

    @classmethod
    def from_uname(cls, name: str) -> OS | None:
        """Map ``uname -s`` to an OS; None for a kernel we have no parsers for."""
        return _UNAME.get(name.strip())


_UNAME = {"Linux": OS.LINUX, "FreeBSD": OS.FREEBSD, "OpenBSD": OS.OPENBSD, "Darwin": OS.MACOS,
          "NetBSD": OS.NETBSD}

# Exit status a fragment uses to say "this tool is not here" (sysexits' EX_UNAVAILABLE);
# 127 is what sh itself returns for a command that is not found.
EXIT_UNAVAILABLE = 69
EXIT_NOT_FOUND = 127


# -- record field helpers ---------------------------------------------------------------
# Column metadata lives on the record's fields: one source of truth for the table.


def col(sql: str | None = None, *, unit: str = "", counter: bool = False,
        key: bool = False, doc: str = "", default: Any = dataclasses.MISSING) -> Any:
    """A record field with its SQL type and meaning.

    ``counter``: a raw, monotonically increasing counter (rates come from SQL views).
    ``key``: identifies the item within one host's poll (interface, mount point, pid).
    """
    meta = {"sql": sql, "unit": unit, "counter": counter, "key": key, "doc": doc}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


_PY_SQL = {int: "BIGINT", float: "DOUBLE", str: "VARCHAR", bool: "BOOLEAN",
           dt.datetime: "TIMESTAMP"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: LogicalType
    nullable: bool
    unit: str = ""
    counter: bool = False
    key: bool = False
    doc: str = ""

    @property
    def sql(self) -> str:
        return self.type.value


def columns_of(record: type) -> list[Column]:
    """The table columns a record type declares, in field order."""
    return list(_columns_of(record))


@functools.cache  # type hints are slow to resolve: once per record type
def _columns_of(record: type) -> tuple[Column, ...]:
    hints = typing.get_type_hints(record)
    out = []
    for f in dataclasses.fields(record):
        hint = hints[f.name]
        args = typing.get_args(hint)
        nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if nullable else hint
        meta = f.metadata
        sql = meta.get("sql") or _PY_SQL.get(base)
        if sql is None:
            raise TypeError(f"{record.__name__}.{f.name}: no SQL type for {hint!r}")
        try:
            kind = logical(sql)
        except ValueError as exc:
            raise TypeError(f"{record.__name__}.{f.name}: {exc}") from None
        out.append(Column(f.name, kind, nullable, meta.get("unit", ""), meta.get("counter", False),
                          meta.get("key", False), meta.get("doc", "")))
    return tuple(out)


# -- records held column by column -------------------------------------------------------


@functools.cache
def _layout(record: type) -> tuple[list[str], bool]:
    """A record type's field names, and whether it must be built with keywords."""
    fields = dataclasses.fields(record)
    return [f.name for f in fields], any(f.kw_only for f in fields)


class Table(Sequence[Any]):
    """A probe's records for one host, held as one list per field, in field order.

    It reads as a sequence of records (built on demand), so code and tests that look at
    records need not care; the store takes the columns as they are. A parser of many rows
    (a thousand processes on each of hundreds of hosts) builds its columns anyway, and
    making a record per row only to take it apart again for storage doubles its cost.
    """

    __slots__ = ("_keywords", "_n", "columns", "record", "skipped", "understood")

    def __init__(self, record: type, columns: Mapping[str, list[Any]]) -> None:
        names, keywords = _layout(record)
        if list(columns) != names:
            raise TypeError(f"{record.__name__} table: columns {list(columns)} are not the "
                            f"fields {names} in order")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise TypeError(f"{record.__name__} table: columns of different lengths {lengths}")
        self.record = record
        self.columns: dict[str, list[Any]] = dict(columns)
        # Lines the parser did not understand and left out (the probe is then `partial`).
        self.skipped: list[str] = []
        # Lines the parser did read, where that is not one per record (one meminfo row per
        # host from fifty lines): what the skipped lines are weighed against.
        self.understood: int | None = None
        self._n = lengths.pop() if lengths else 0
        self._keywords = names if keywords else None

    @classmethod
    def of(cls, record: type, records: Sequence[Any]) -> Table:
        """Records (all of type ``record``) taken apart into columns."""
        if isinstance(records, Table):
            return records
        names, _ = _layout(record)
        if len(records) == 1:  # most probes: one row per host (memory, cpu, system)
            (one,) = records
            return cls(record, {n: [getattr(one, n)] for n in names})
        return cls(record, {n: list(map(operator.attrgetter(n), records)) for n in names})

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Any]:
        if self._keywords is None:  # positional where the record allows it: cheaper
            return map(self.record, *self.columns.values())
        names, record = self._keywords, self.record
        return (record(**dict(zip(names, row, strict=True)))
                for row in zip(*self.columns.values(), strict=True))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        values = [c[index] for c in self.columns.values()]
        if self._keywords is None:
            return self.record(*values)
        return self.record(**dict(zip(self._keywords, values, strict=True)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Table):
            return self.record is other.record and self.columns == other.columns
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Table({self.record.__name__}, {self._n} rows)"


# -- the probe ---------------------------------------------------------------------------

Parser = Callable[[Mapping[str, str]], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Part:
    """One section of the host script.

    ``sh`` is a POSIX sh fragment; it runs in its own subshell under ``LC_ALL=C`` with
    stdin closed, and may call ``_na "reason"`` to declare the tool unavailable.
    ``file``: instead of a fragment, the part is the contents of one file (``/proc/…``):
    the script reads all such files of a host in one process, which keeps the
    monitored host's cost low. A missing or unreadable file leaves the part absent.
    ``sh`` may also be a function of the host's variables (watched files), which must
    quote what it interpolates with ``shlex.quote``.
    ``guard``: the fragment may hang (``df`` on a dead NFS mount, ``nvidia-smi``), so it
    runs under its own time budget on the remote side.
    ``doc``: what the part runs, in a few words of markdown, where a multi-line fragment
    says it badly by itself (the README's table of probes shows it).
    """

    name: str
    sh: str | Callable[[Mapping[str, Any]], str] | None = None
    file: str | None = None
    guard: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if (self.sh is None) == (self.file is None):
            raise TypeError(f"part {self.name}: give exactly one of sh= or file=")


@dataclass(frozen=True, slots=True)
class Probe:
    name: str                                  # also the table name
    record: type
    parts: Mapping[OS, Sequence[Part]]
    parsers: Mapping[OS, Parser]
    description: str = ""
    enabled_by_default: bool = True
    # Why an OS is left out on purpose ("OpenBSD has no loadable modules").
    unsupported: Mapping[OS, str] = field(default_factory=dict)
    # Derived SQL views this probe's table feeds, name -> SELECT (after the
    # ``latest_<name>`` and ``<name>_rates`` views exist): cpu_usage, file_changes, ...
    views: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.parts) != set(self.parsers):
            raise TypeError(f"probe {self.name}: parts and parsers name different OSes")
        columns_of(self.record)  # fail at definition time, not at the first poll

    @property
    def columns(self) -> list[Column]:
        return columns_of(self.record)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def supports(self, os: OS) -> bool:
        return os in self.parts

    def why_unsupported(self, os: OS) -> str:
        return self.unsupported.get(os, f"{self.name} has no command for {os}")

    def parse(self, os: OS, parts: Mapping[str, str]) -> Table:
        """Run the OS's parser; anything but records or ProbeError becomes ParseError."""
        try:
            out = self.parsers[os](parts)
            if isinstance(out, Table):
                if out.record is not self.record:
                    raise ParseError(f"parser returned a table of {out.record.__name__}, "
                                     f"not {self.record.__name__}")
                table = out
            else:
                records = list(out)
                strays = set(map(type, records)) - {self.record}
                if strays:
                    raise ParseError(f"parser returned {strays.pop().__name__}, "
                                     f"not {self.record.__name__}")
                table = Table.of(self.record, records)
            for column in self.columns:
                check_values(column, table.columns[column.name])
            kept = len(table) if table.understood is None else table.understood
            if table.skipped and (len(table.skipped) > kept or not len(table)):
                # Mostly not understood: not a few odd lines but output of another shape.
                raise ParseError(f"{len(table.skipped)} of {len(table.skipped) + kept} "
                                 "lines not understood", table.skipped[0])
        except ProbeError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
            # An input shape the parser did not foresee: still one probe's loss.
            raise ParseError(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # a bug in a (plugin's) parser: contained to this probe
            raise ParseError(f"parser bug: {type(exc).__name__}: {exc}") from exc
        return table


# -- small parsing helpers shared by the parsers ------------------------------------------


def partial(record: type, records: Sequence[Any], skipped: Sequence[str],
            understood: int | None = None) -> Table:
    """``records`` and the lines the parser left out (the probe is then ``partial``).

    Strict for the shape, lenient for a row: a header, a column set or a mandatory value
    the parser does not know is a ParseError; one odd row (a line cut by the kernel, a
    sensor of another kind) is skipped, quoted here and costs that row alone.
    ``understood``: the lines read, where a record is made of many (memory, system).
    """
    table = Table.of(record, records)
    table.skipped = list(skipped)
    table.understood = understood
    return table


def only_part(parts: Mapping[str, str], name: str) -> str:
    """The text of a required part, or Unavailable when it did not run."""
    try:
        return parts[name]
    except KeyError:
        raise Unavailable(f"no output from {name}") from None


def to_int(text: str, what: str, line: str | None = None) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"not an integer for {what}: {text!r}", line) from None


def to_float(text: str, what: str, line: str | None = None) -> float:
    """A finite float; ``52,0`` (decimal comma) is accepted, NaN and inf are not."""
    try:
        value = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        raise ParseError(f"not a number for {what}: {text!r}", line) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(f"not a finite number for {what}: {text!r}", line)
    return value


_PY_TYPES: dict[LogicalType, tuple[type, ...]] = {
    LogicalType.VARCHAR: (str,), LogicalType.BOOLEAN: (bool,),
    LogicalType.TIMESTAMP: (dt.datetime,), LogicalType.VARCHAR_LIST: (list, tuple),
}


def check_values(column: Column, values: Sequence[Any]) -> None:
    """Every value fits its column's type: a value outside it is bad input (a negative
    size, a 2**64 counter, ``%CPU = 1e39`` for a 32-bit FLOAT) that must cost this probe on
    this host, never the batch that every host's rows share."""
    kind = column.type
    # Whole-column checks (C speed: a poll brings hundreds of rows per host, each column
    # is checked once); the value-by-value search runs only to name a bad value.
    types = set(map(type, values))  # cheaper than `None in values`, which calls __eq__
    present = values
    if NoneType in types:
        if not column.nullable:
            raise ParseError(f"{column.name} is NULL, which its column does not allow")
        types.discard(NoneType)
        present = [v for v in values if v is not None]
    if not present:
        return
    if kind.is_integer:
        if types != {int}:  # bool is an int subclass: refused
            bad = next(v for v in present if type(v) is not int)
            raise ParseError(f"{column.name} = {bad!r} is not an integer")
        lo, hi = INT_RANGES[kind]
        if not (lo <= min(present) and max(present) <= hi):
            bad = next(v for v in present if not lo <= v <= hi)
            raise ParseError(f"{column.name} = {bad} is out of range for its column ({kind})")
    elif kind.is_float:
        if not types <= {float, int}:
            bad = next(v for v in present if type(v) not in (float, int))
            raise ParseError(f"{column.name} = {bad!r} is not a number")
        limit = FLOAT_LIMITS[kind]
        total = math.fsum(present)  # NaN or inf anywhere makes the sum NaN or inf
        # A DOUBLE holds every finite float: the sum alone decides.
        if not (math.isfinite(total) and (kind is LogicalType.DOUBLE or
                                          (-limit <= min(present) and max(present) <= limit))):
            bad = next(v for v in present if not -limit <= v <= limit)  # NaN fails too
            raise ParseError(f"{column.name} = {bad!r} is out of range for its column ({kind})")
    else:
        allowed = _PY_TYPES[kind]
        if not all(issubclass(t, allowed) for t in types):
            bad = next(v for v in present if not isinstance(v, allowed))
            raise ParseError(f"{column.name} = {bad!r} is not a {kind} value")


def as_json(record: Any) -> dict[str, Any]:
    """A record as JSON-ready dict (timestamps in ISO 8601, UTC)."""
    out = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        out[f.name] = v.isoformat() if isinstance(v, dt.datetime) else v
    return out
