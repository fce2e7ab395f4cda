"""The DuckDB database's own bookkeeping: which tables exist with which spec, which
archive files hold their closed days, what storage maintenance dropped.

Sample tables live in schema ``hot`` until their day is archived to Parquet; the table
name users query is a view over both (:mod:`onion.storage.views`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb

from onion.core.sqltext import ident, literal
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


def recorded_root(con: Con) -> Path | None:
    """The archive folder as maintenance last recorded it: the comment on the catalog
    table (a table of its own would cost the database a 256 KiB block)."""
    if not has_table(con, "archive_files"):
        return None
    row = con.execute("SELECT comment FROM duckdb_tables() WHERE schema_name = 'main' "
                      "AND table_name = 'archive_files'").fetchone()
    return Path(row[0]) if row and row[0] else None


def archive_root(con: Con, db: Path | None = None) -> Path | None:
    """The archive folder: as the last maintenance recorded it, or, if that is gone (the
    database and its archive were moved together), ``<db>.archive`` beside the database."""
    recorded = recorded_root(con)
    if recorded is not None and recorded.is_dir():
        return recorded
    beside = db.with_name(db.name + ".archive") if db is not None else None
    if beside is not None and beside.is_dir():
        return beside
    return recorded


def set_archive_root(con: Con, root: Path) -> None:
    path = str(root.resolve())
    if recorded_root(con) != Path(path):
        con.execute(f"COMMENT ON TABLE archive_files IS {literal(path)}")


def resolve(root: Path | None, stored: str) -> Path:
    """A catalogued file's path now. New entries are relative to the archive folder
    (``<table>/<tier>/<file>``), so the two can move together; an older database holds
    absolute paths, which are tried at the archive folder too once they are gone."""
    path = Path(stored)
    if not path.is_absolute():
        return (root or Path(".")) / path
    if not path.exists() and root is not None:
        moved = root.joinpath(*path.parts[-3:])
        if moved.exists():
            return moved
    return path


def relative(root: Path, path: Path) -> str:
    """How the catalog stores a file of the archive: relative to its folder."""
    return str(path.relative_to(root))


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
    """Whether a table of that name is in that schema, of any attached database.

    duckdb_tables(), not information_schema.tables (a third of the cost, asked several
    times a round), which lists views too: a view is no table here."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() "
                            "WHERE schema_name = ? AND table_name = ?",
                            [schema, name]).fetchone()[0])  # type: ignore[index]


def table_specs(con: Con) -> dict[str, TableSpec]:
    """The archived tables' specs as stored (sample tables, polls, probe_results)."""
    if not has_table(con, "table_specs"):
        return {}
    return {name: TableSpec.from_json(name, json.loads(cols),
                                      json.loads(spec))
            for name, cols, spec in con.execute(
                "SELECT name, columns, spec FROM table_specs ORDER BY name").fetchall()}
