"""Small helpers for the report's queries: which relations exist, rows as dicts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

Con = duckdb.DuckDBPyConnection


def relations(con: Con) -> set[str]:
    """Tables and views users query (schema ``main``), and ``hot.<table>`` for the
    recent-rows tables behind them. Asked once per report and passed down."""
    return {name if schema == "main" else f"{schema}.{name}" for schema, name in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('main', 'hot')").fetchall()}


def columns(con: Con, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()]


def dicts(con: Con, query: str,
          params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
    rel = con.execute(query, params if isinstance(params, Mapping) else list(params))
    names = [d[0] for d in rel.description or []]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def pick(available: Sequence[str], *candidates: str) -> str | None:
    """The first candidate column that exists: tables written by other parts may vary."""
    have = set(available)
    return next((c for c in candidates if c in have), None)


class Timed:
    """A connection that adds up the time its queries take, fetching included (what
    ``bench/report.py`` prints as "SQL alone"). Not thread-safe: one renderer at a time."""

    def __init__(self, con: Con) -> None:
        self.con, self.seconds, self.queries = con, 0.0, 0
        self.slowest: list[tuple[float, str]] = []     # (seconds, query), every one

    def execute(self, query: str, params: Any = None) -> Timed:
        t = time.perf_counter()
        self.con.execute(query, params) if params is not None else self.con.execute(query)
        took = time.perf_counter() - t
        self.seconds += took
        self.queries += 1
        self.slowest.append((took, " ".join(query.split())[:150]))
        return self

    @property
    def description(self) -> Any:
        return self.con.description

    def _timed(self, name: str) -> Any:
        t = time.perf_counter()
        try:
            return getattr(self.con, name)()
        finally:
            self.seconds += time.perf_counter() - t

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._timed("fetchall")

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._timed("fetchone")

    def fetchnumpy(self) -> dict[str, Any]:
        return self._timed("fetchnumpy")
