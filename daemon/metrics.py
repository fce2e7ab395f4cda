"""Prometheus metrics of the fleet: the text exposition (format 0.0.4) of ``/metrics``.

:func:`fleet` reads each host's newest rows (the ``latest_*`` views, through a read-only,
locked-down connection: SELECTs only) and returns metric families, every sample labelled
with its ``host``:

- ``onion_host_up`` (1 when the host's last poll was ``ok``), ``onion_host_status``
  (1, labelled with that status), ``onion_host_last_poll_timestamp_seconds``,
  ``onion_host_last_ok_timestamp_seconds``, ``onion_host_poll_duration_seconds``
  (connect + command), ``onion_host_connect_seconds``, ``onion_host_command_seconds``,
  ``onion_host_poll_read_bytes``;
- ``onion_probe_ok{probe}`` (1 when the probe's last result was ``ok``) and
  ``onion_probe_records{probe}``;
- for each sample table (cpu, memory, filesystems, disk_io, network, temperatures, gpu,
  system and any plugin's), built from its stored spec: ``onion_<table>_<column>`` per
  numeric column (a gauge; booleans 0/1; timestamps as ``<column>_seconds`` since the
  epoch), ``onion_<table>_<column>_total`` per raw counter (a counter), and
  ``onion_<table>_info`` (1, its text columns as labels); the item's key columns
  (mount, device, interface, chip and sensor, GPU index and uuid) are labels too. A
  gauge column named ``…_total`` (``inodes_total``) drops the suffix, the counters' own;
- per-process, kernel-module and watched-file rows are not metrics (a label set per pid
  or path, text values): ``onion_processes``, ``onion_modules``, ``onion_files_watched``
  and ``onion_files_missing`` count them per host instead.

A table that is not there yet (a young database, a probe never polled) is left out.
:func:`exposition` writes families as text; names are sanitised and label values escaped,
so values from remote machines (host names, mount points) cannot break the format.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from onion.core.sqltext import ident
from onion.core.status import HostStatus, ProbeStatus
from onion.core.types import LogicalType
from onion.probes.registry import installed
from onion.storage.catalog import HOT, Con, table_specs
from onion.storage.schema import CORE, ROW_PREFIX, ColumnSpec, TableSpec

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "onion"


class MetricKind(enum.StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(slots=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class Family:
    name: str
    kind: MetricKind
    help: str
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Count:
    """A per-host count of a table's newest rows, for tables that are not metrics."""

    table: str
    name: str
    help: str
    where: str = ""                 # SQL condition on the rows counted
    needs: tuple[str, ...] = ()     # columns the condition reads


_COUNTS = (
    _Count("processes", "onion_processes", "Processes at the host's newest poll."),
    _Count("modules", "onion_modules", "Kernel modules loaded at the host's newest poll."),
    _Count("files", "onion_files_watched", "Watched files at the host's newest poll."),
    _Count("files", "onion_files_missing", "Watched files that do not exist.",
           where=f"{ident('exists')} = false", needs=("exists",)),
)
# One row per pid, module or path: unbounded label sets and text values, so only counted.
NOT_METRICS = frozenset(c.table for c in _COUNTS)
_PREFIX_NAMES = frozenset(c.name for c in ROW_PREFIX)


# -- reading the database -----------------------------------------------------------------


def fleet(con: Con) -> list[Family]:
    """Every family from the newest rows, sorted by name, samples sorted by labels."""
    columns = _relations(con)
    families: dict[str, Family] = {}
    _hosts(con, columns, families)
    _probes(con, columns, families)
    for name, spec in table_specs(con).items():
        view = "latest_" + name
        if name in CORE or name in NOT_METRICS or view not in columns:
            continue
        _table(con, spec, columns[view], families)
    _counts(con, columns, families)
    out = [f for f in families.values() if f.samples]
    for f in out:
        # Labels in the order they were made: host first, then the item's key.
        f.samples.sort(key=lambda s: tuple(s.labels.items()))
    return sorted(out, key=lambda f: f.name)


def _relations(con: Con) -> dict[str, set[str]]:
    """Tables and views a query can name, with their columns (the hot tables are only
    read through their views)."""
    out: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name <> ?",
            [HOT]).fetchall():
        out.setdefault(table, set()).add(column)
    return out


def _newest(view: str, key: Sequence[str], order: Sequence[str] = ()) -> str:
    """The newest row per host and item of a ``latest_*`` view. That view holds each host's
    newest *run*, and one run may hold several polls of a host (a batch of a day's polls):
    the newest ``ts`` wins, ties broken by the values so the output is deterministic."""
    part = ", ".join(ident(c) for c in ["host", *key])
    ties = "".join(f", {e} DESC NULLS LAST" for e in order)
    return (f"SELECT * FROM {ident(view)} QUALIFY row_number() OVER "
            f"(PARTITION BY {part} ORDER BY ts DESC{ties}) = 1")


def _family(families: dict[str, Family], name: str, kind: MetricKind, help: str) -> Family:
    family = families.get(name)
    if family is None:
        family = families[name] = Family(name, kind, help)
    return family


def _add(families: dict[str, Family], name: str, help: str, labels: dict[str, str],
         value: Any, kind: MetricKind = MetricKind.GAUGE) -> None:
    if value is None:
        return
    _family(families, name, kind, help).samples.append(Sample(labels, _number(value)))


def _number(value: Any) -> float:
    # bool first: it is an int, and True must be written 1, not "True"
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value  # kept exact: a 64-bit counter loses digits as a float
    return float(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _hosts(con: Con, columns: dict[str, set[str]], families: dict[str, Family]) -> None:
    if "latest_polls" not in columns:
        return
    join, last_ok = "", "NULL"
    if "hosts" in columns:  # the state table keeps the last good poll across failed ones
        join, last_ok = " LEFT JOIN hosts h USING (host)", "epoch(h.last_ok)"
    rows = con.execute(
        f"SELECT p.host, p.status, epoch(p.ts), {_read('connect_s', LogicalType.FLOAT)}, "
        f"{_read('command_s', LogicalType.FLOAT)}, p.bytes_read, {last_ok} "
        f"FROM ({_newest('latest_polls', ())}) p{join}").fetchall()
    for host, status, ts, connect, command, read, ok_ts in rows:
        labels = {"host": host}
        _add(families, "onion_host_up", "1 when the host's last poll was ok, else 0.",
             labels, status == HostStatus.OK)
        _add(families, "onion_host_status", "1, labelled with the status of the host's "
             "last poll (ok, unreachable, timeout, auth_refused ...).",
             {**labels, "status": _text(status)}, 1)
        _add(families, "onion_host_last_poll_timestamp_seconds",
             "When the host was last polled, in seconds since the epoch.", labels, ts)
        _add(families, "onion_host_last_ok_timestamp_seconds",
             "When the host was last polled successfully, in seconds since the epoch.",
             labels, ok_ts)
        duration = None if connect is None and command is None else (connect or 0) + (
            command or 0)
        _add(families, "onion_host_poll_duration_seconds",
             "Time of the host's last poll: connecting plus running the script.",
             labels, duration)
        _add(families, "onion_host_connect_seconds",
             "Time to connect to the host at its last poll.", labels, connect)
        _add(families, "onion_host_command_seconds",
             "Time the host's script ran at its last poll.", labels, command)
        _add(families, "onion_host_poll_read_bytes",
             "Bytes of output read from the host at its last poll.", labels, read)


def _probes(con: Con, columns: dict[str, set[str]], families: dict[str, Family]) -> None:
    if "latest_probe_results" not in columns:
        return
    rows = con.execute(f"SELECT host, probe, status, records FROM "
                       f"({_newest('latest_probe_results', ('probe',))})").fetchall()
    for host, probe, status, records in rows:
        labels = {"host": host, "probe": _text(probe)}
        _add(families, "onion_probe_ok", "1 when the probe's last result on the host was ok "
             "(not unavailable, unsupported, parse_error, partial ...), else 0.",
             labels, status == ProbeStatus.OK)
        _add(families, "onion_probe_records",
             "Rows the probe's last result on the host brought.", labels, records)


@dataclass(frozen=True, slots=True)
class _Value:
    """One column of a sample table as one family."""

    family: str
    kind: MetricKind
    expr: str          # the SELECT expression that reads it
    help: str


def _values(spec: TableSpec, present: set[str]) -> tuple[list[_Value], list[str]]:
    """A table's numeric columns as families, and its text columns (info labels)."""
    values: list[_Value] = []
    texts: list[str] = []
    for c in spec.columns:
        if c.name in _PREFIX_NAMES or c.name in spec.key or c.name not in present:
            continue
        base = f"{PREFIX}_{spec.name}_{c.name}"
        n = _read(c.name, c.type)
        if c.type.is_numeric and c.name in spec.counters:
            total = base if base.endswith("_total") else base + "_total"
            values.append(_Value(total, MetricKind.COUNTER, n, _help(spec, c)))
        elif c.type.is_numeric or c.type is LogicalType.BOOLEAN:
            # `_total` is the counters' suffix: a gauge so named (inodes_total) drops it.
            gauge = base.removesuffix("_total")
            values.append(_Value(gauge, MetricKind.GAUGE, n, _help(spec, c)))
        elif c.type is LogicalType.TIMESTAMP:
            values.append(_Value(base + "_seconds", MetricKind.GAUGE, f"epoch({n})",
                                 _help(spec, c, " in seconds since the epoch")))
        elif c.type is LogicalType.VARCHAR:
            texts.append(c.name)
    return values, texts


def _read(column: str, kind: LogicalType) -> str:
    """The SELECT expression of a column. A 32-bit FLOAT goes through its shortest text:
    load 0.08 is stored as 0.0799999982, and Prometheus should be told 0.08."""
    n = ident(column)
    return f"{n}::VARCHAR::DOUBLE" if kind is LogicalType.FLOAT else n


def _table(con: Con, spec: TableSpec, present: set[str], families: dict[str, Family]) -> None:
    key = [k for k in spec.key if k in present]
    values, texts = _values(spec, present)
    if not values and not texts:
        return
    exprs = [v.expr for v in values] + [ident(t) for t in texts]
    rows = con.execute(
        f"SELECT host, {''.join(ident(k) + ', ' for k in key)}{', '.join(exprs)} "
        f"FROM ({_newest('latest_' + spec.name, key, exprs)})").fetchall()
    info = f"{PREFIX}_{spec.name}_info"
    info_help = (f"1, labelled with the text columns of {spec.name} "
                 f"({', '.join(texts)}) at the newest poll.")
    # row: host, the key's columns, the values, the texts
    a, b = 1 + len(key), 1 + len(key) + len(values)
    for row in rows:
        items, numbers, strings = row[1:a], row[a:b], row[b:]
        labels = {"host": row[0], **{k: _text(v) for k, v in zip(key, items, strict=True)}}
        for v, value in zip(values, numbers, strict=True):
            _add(families, v.family, v.help, dict(labels), value, v.kind)
        if texts:
            given = {t: s for t, s in zip(texts, strings, strict=True) if s is not None}
            _add(families, info, info_help, {**labels, **given}, 1)


def _counts(con: Con, columns: dict[str, set[str]], families: dict[str, Family]) -> None:
    for c in _COUNTS:
        view = "latest_" + c.table
        if view not in columns or not set(c.needs) <= columns[view]:
            continue
        counted = f"count(*) FILTER (WHERE {c.where})" if c.where else "count(*)"
        # The newest poll of each host (a run may hold several, see _newest).
        rows = con.execute(
            f"SELECT host, {counted} FROM (SELECT * FROM {ident(view)} "
            f"QUALIFY ts = max(ts) OVER (PARTITION BY host)) GROUP BY host").fetchall()
        for host, n in rows:
            _add(families, c.name, c.help, {"host": host}, n)


@functools.cache  # loading the probes' entry points is slow: once per process
def _docs() -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) -> (unit, doc) of the installed probes: the stored specs keep
    neither, and they make the help text say what a number is."""
    return {(p.name, c.name): (c.unit, c.doc) for p in installed().values()
            for c in p.columns}


def _help(spec: TableSpec, c: ColumnSpec, extra: str = "") -> str:
    unit, doc = _docs().get((spec.name, c.name), ("", ""))
    items = ", ".join(["host", *spec.key])
    text = f"{spec.name}.{c.name}{extra} at the newest poll, per {items}"
    if unit:
        text += f" ({unit})"
    if doc:
        text += f": {doc}"
    if c.name in spec.counters:
        text += "; a raw counter"
    return text + "."


# -- the text format -----------------------------------------------------------------------

_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9_:]")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """``[a-zA-Z_:][a-zA-Z0-9_:]*``: anything else becomes ``_``."""
    name = _NOT_METRIC_CHAR.sub("_", name) or "_"
    return "_" + name if name[0].isdigit() else name


def label_name(name: str) -> str:
    """``[a-zA-Z_][a-zA-Z0-9_]*``, and not ``__…`` (Prometheus keeps those for itself)."""
    name = _NOT_LABEL_CHAR.sub("_", name) or "_"
    if name.startswith("__"):
        name = "_" + name.lstrip("_")
    return "_" + name if name[0].isdigit() else name


def _utf8(text: str) -> str:
    # A lone surrogate (a name read with surrogateescape) cannot be encoded as UTF-8.
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def label_value(text: str) -> str:
    return _utf8(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def help_text(text: str) -> str:
    return _utf8(text).replace("\\", "\\\\").replace("\n", "\\n")


def value_text(value: float) -> str:
    """A number as Prometheus spells it: ``NaN``, ``+Inf``, ``-Inf``; integers exact."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def exposition(families: Iterable[Family]) -> str:
    """The text of ``/metrics``, ending in a newline (empty for no families).

    Families of the same (sanitised) name are merged, the first one's help and type kept,
    and of samples with the same labels the first is kept: Prometheus refuses a whole
    scrape over one duplicate (two rows of one mount point, two names sanitised alike).
    """
    merged: dict[str, tuple[Family, dict[tuple[tuple[str, str], ...], str]]] = {}
    for family in families:
        name = metric_name(family.name)
        _, samples = merged.setdefault(name, (family, {}))
        for s in family.samples:
            labels = {label_name(k): label_value(_text(v)) for k, v in s.labels.items()}
            key = tuple(labels.items())
            if key not in samples:
                samples[key] = value_text(s.value)
    lines = []
    for name, (family, samples) in merged.items():
        lines.append(f"# HELP {name} {help_text(family.help)}")
        lines.append(f"# TYPE {name} {MetricKind(family.kind).value}")
        for labels, value in samples.items():
            inner = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")
    return "".join(line + "\n" for line in lines)
