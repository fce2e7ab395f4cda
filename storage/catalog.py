"""The DuckDB database's own bookkeeping: which tables exist with which spec, which
archive files hold their closed days, what storage maintenance dropped.

Sample tables live in schema ``hot`` until their day is archived to Parquet; the table
name users query is a view over both (:mod:`onion.storage.views`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb

from onion.core.sqltext import ident
from onion.storage.schema import TableSpec

Con = duckdb.DuckDBPyConnection
HOT = "hot"
# DuckDB's own tables, in its DDL (DATE is no logical type of a sample).
SPEC_COLUMNS = [("name", "VARCHAR"), ("columns", "VARCHAR"), ("spec", "VARCHAR")]
CATALOG_COLUMNS = [
    ("table_name", "VARCHAR"), ("tier", "VARCHAR"), ("day", "DATE"), ("path", "VARCHAR"),
    ("rows", "UBIGINT"), ("bytes", "UBIGINT"), ("created", "TIMESTAMP"),
]
EVENT_COLUMNS = [("ts", "TIMESTAMP"), ("action", "VARCHAR"), ("table_name", "VARCHAR"),
                 ("tier", "VARCHAR"), ("day", "DATE"), ("bytes", "UBIGINT"),
                 ("detail", "VARCHAR")]
BOOKKEEPING = {"table_specs": (SPEC_COLUMNS, ("name",)),
               "archive_files": (CATALOG_COLUMNS, ()),
               "storage_events": (EVENT_COLUMNS, ())}


def ensure_table(con: Con, schema: str, table: str, columns: Sequence[tuple[str, str]],
                 primary_key: Sequence[str] = ()) -> None:
    """Create the table, or add the columns it lacks (old rows read NULL there)."""
    cols = ", ".join(f"{ident(n)} {t}" for n, t in columns)
    pk = f", PRIMARY KEY ({', '.join(map(ident, primary_key))})" if primary_key else ""
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{ident(table)} ({cols}{pk})")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall()}
    for n, t in columns:
        if n not in have:  # a probe grew a field
            con.execute(f"ALTER TABLE {schema}.{ident(table)} ADD COLUMN {ident(n)} {t}")


def has_table(con: Con, name: str, schema: str = "main") -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = ? AND table_name = ?",
                            [schema, name]).fetchone()[0])  # type: ignore[index]


def table_specs(con: Con) -> dict[str, TableSpec]:
    """The archived tables' specs as stored (sample tables, polls, probe_results)."""
    if not has_table(con, "table_specs"):
        return {}
    return {name: TableSpec.from_json(name, json.loads(cols),
                                      json.loads(spec))
            for name, cols, spec in con.execute(
                "SELECT name, columns, spec FROM table_specs ORDER BY name").fetchall()}
