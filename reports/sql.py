"""Small helpers for the report's queries: which relations exist, rows as dicts."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from onion.storage import duck as store

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


@dataclass(slots=True)
class _Tally:
    seconds: float = 0.0
    queries: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, query)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, took: float, query: str | None = None) -> None:
        with self.lock:
            self.seconds += took
            if query is not None:
                self.queries += 1
                self.slowest.append((took, " ".join(query.split())[:150]))


class Timed:
    """A connection that adds up the time its queries take, fetching included (what
    ``bench/report.py`` prints as "SQL"). One thread at a time on each; its cursors
    (:meth:`cursor`, one per thread) add to the same sums, so with a second thread the
    sum can be more than the time that passed."""

    def __init__(self, con: Con, tally: _Tally | None = None) -> None:
        self.con = con
        self._tally = tally or _Tally()

    @property
    def seconds(self) -> float:
        return self._tally.seconds

    @property
    def queries(self) -> int:
        return self._tally.queries

    @property
    def slowest(self) -> list[tuple[float, str]]:
        return self._tally.slowest

    def cursor(self) -> Timed:
        """A cursor (as :func:`storage.duck.cursor` makes one) adding to these sums."""
        return Timed(store.cursor(self.con), self._tally)

    def close(self) -> None:
        self.con.close()

    def execute(self, query: str, params: Any = None) -> Timed:
        t = time.perf_counter()
        self.con.execute(query, params) if params is not None else self.con.execute(query)
        self._tally.add(time.perf_counter() - t, query)
        return self

    @property
    def description(self) -> Any:
        return self.con.description

    def _timed(self, name: str) -> Any:
        t = time.perf_counter()
        try:
            return getattr(self.con, name)()
        finally:
            self._tally.add(time.perf_counter() - t)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._timed("fetchall")

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._timed("fetchone")

    def fetchnumpy(self) -> dict[str, Any]:
        return self._timed("fetchnumpy")
