"""What Onion stores, engine-neutral: tables of typed columns.

Every sink maps these specs onto its engine (DuckDB takes the logical type names as they
are). Sample tables come from probe records (:func:`probe_table`); the core tables of a
run are below: ``runs`` (one row per round), ``polls`` (per host), ``probe_results``
(per probe per host) and ``hosts`` (one row per host, updated in place).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onion.core.types import LogicalType, logical
from onion.probes.base import Probe

T = LogicalType


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: LogicalType
    unit: str = ""
    counter: bool = False
    key: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table: its columns, what names an item in it, which columns are counters, the
    derived views (name -> SELECT) and, for a state table such as ``hosts``, the key a
    row is replaced by (``upsert_key``; empty: rows are only appended)."""

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    counters: tuple[str, ...] = ()
    views: Mapping[str, str] = field(default_factory=dict)
    upsert_key: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def pairs(self) -> list[tuple[str, str]]:
        """(name, type name) per column, as the spool manifest and DuckDB catalog hold them."""
        return [(c.name, c.type.value) for c in self.columns]

    def meta(self) -> dict[str, Any]:
        """Key, counters and views: the part of the spec that is not columns."""
        return {"key": list(self.key), "counters": list(self.counters),
                "views": dict(self.views), "upsert_key": list(self.upsert_key)}

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.pairs(), **self.meta()}

    @classmethod
    def from_json(cls, name: str, columns: Sequence[Sequence[str]],
                  meta: Mapping[str, Any] | None = None) -> TableSpec:
        meta = meta or {}
        counters = set(meta.get("counters") or ())
        keys = set(meta.get("key") or ())
        cols = tuple(ColumnSpec(n, logical(t.replace(" PRIMARY KEY", "")),
                                counter=n in counters, key=n in keys) for n, t in columns)
        upsert = tuple(meta.get("upsert_key") or
                       (n for n, t in columns if t.endswith(" PRIMARY KEY")))
        return cls(name, cols, tuple(meta.get("key") or ()), tuple(meta.get("counters") or ()),
                   dict(meta.get("views") or {}), upsert)

    def dumps(self) -> tuple[str, str]:
        """(columns JSON, spec JSON), the two text columns of DuckDB's ``table_specs``."""
        return json.dumps(self.pairs()), json.dumps(self.meta())


def _cols(*pairs: tuple[str, LogicalType]) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec(n, t) for n, t in pairs)


ROW_PREFIX = _cols(("run_id", T.UBIGINT), ("host", T.VARCHAR), ("ts", T.TIMESTAMP))

RUNS = TableSpec("runs", _cols(
    ("run_id", T.UBIGINT), ("started_at", T.TIMESTAMP), ("finished_at", T.TIMESTAMP),
    ("wall_s", T.DOUBLE), ("hosts", T.UINTEGER), ("hosts_ok", T.UINTEGER),
    ("cpu_user_s", T.DOUBLE), ("cpu_system_s", T.DOUBLE), ("peak_rss_bytes", T.UBIGINT),
    ("version", T.VARCHAR), ("argv", T.VARCHAR)))
POLLS = TableSpec("polls", _cols(
    ("run_id", T.UBIGINT), ("host", T.VARCHAR), ("ts", T.TIMESTAMP), ("status", T.VARCHAR),
    ("reason", T.VARCHAR), ("os", T.VARCHAR), ("uname", T.VARCHAR), ("connect_s", T.FLOAT),
    ("command_s", T.FLOAT), ("bytes_read", T.UBIGINT), ("host_key", T.VARCHAR)))
PROBE_RESULTS = TableSpec("probe_results", _cols(
    ("run_id", T.UBIGINT), ("host", T.VARCHAR), ("ts", T.TIMESTAMP), ("probe", T.VARCHAR),
    ("status", T.VARCHAR), ("reason", T.VARCHAR), ("records", T.UINTEGER)), key=("probe",))
HOSTS = TableSpec("hosts", _cols(
    ("host", T.VARCHAR), ("address", T.VARCHAR), ("port", T.INTEGER),
    ("user", T.VARCHAR), ("groups", T.VARCHAR_LIST), ("os", T.VARCHAR),
    ("first_seen", T.TIMESTAMP), ("last_seen", T.TIMESTAMP), ("last_ok", T.TIMESTAMP),
    ("last_status", T.VARCHAR), ("last_reason", T.VARCHAR)), upsert_key=("host",))
CORE = {t.name: t for t in (RUNS, POLLS, PROBE_RESULTS, HOSTS)}
# Core tables that are samples over time like a probe's (archived by day in DuckDB).
SAMPLED_CORE = ("polls", "probe_results")


def probe_table(probe: Probe) -> TableSpec:
    """A probe's table: ``run_id, host, ts`` and then the record's fields."""
    cols = probe.columns
    return TableSpec(
        probe.name,
        ROW_PREFIX + tuple(ColumnSpec(c.name, c.type, c.unit, c.counter, c.key) for c in cols),
        key=tuple(c.name for c in cols if c.key),
        counters=tuple(c.name for c in cols if c.counter),
        views=dict(probe.views))


def tables_for(probes: Iterable[Probe]) -> dict[str, TableSpec]:
    """Every table a run with these probes writes: the core ones, then one per probe."""
    return {**CORE, **{p.name: probe_table(p) for p in probes}}
