"""``catalog.has_table`` and ``alerts.tables.exists`` read duckdb_tables(): the same answer
as information_schema.tables gave for every table (any attached database, the temp one,
inside a transaction), while a view is not taken for a table."""

from __future__ import annotations

from pathlib import Path

import duckdb

from onion.alerts import tables
from onion.storage import catalog


def _before(con: duckdb.DuckDBPyConnection, name: str, schema: str = "main") -> bool:
    """What has_table asked before, views left out."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = ? AND table_name = ? AND table_type <> 'VIEW'",
                            [schema, name]).fetchone()[0])  # type: ignore[index]


def test_tables_as_information_schema_has_them(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    con.execute("CREATE SCHEMA hot")
    con.execute("CREATE TABLE alerts (x INT)")
    con.execute("CREATE TABLE hot.files (x INT)")
    con.execute("CREATE TEMP TABLE scratch (x INT)")
    con.execute(f"ATTACH '{tmp_path / 'b.duckdb'}' AS other")
    con.execute("CREATE TABLE other.main.archive_files (x INT)")
    con.execute("CREATE VIEW files AS SELECT * FROM hot.files")
    con.execute("BEGIN")
    con.execute("CREATE TABLE alert_runs (x INT)")             # not committed yet
    cases = [(n, s) for n in ("alerts", "files", "scratch", "archive_files", "alert_runs",
                              "nonesuch", "ALERTS") for s in ("main", "hot", "other")]
    for name, schema in cases:
        assert catalog.has_table(con, name, schema) == _before(con, name, schema), (name, schema)
        if schema == "main":
            assert tables.exists(con, name) == _before(con, name)
    assert [n for n, s in cases if catalog.has_table(con, n, s)] == [
        "alerts", "files", "scratch", "archive_files", "alert_runs"]
    assert not catalog.has_table(con, "files")                  # main.files is a view
    con.execute("ROLLBACK")
    assert not tables.exists(con, "alert_runs")
    con.close()
