"""Small helpers for the report's queries: which relations exist, rows as dicts."""

from __future__ import annotations

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
