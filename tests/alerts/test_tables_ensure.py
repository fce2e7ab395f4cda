"""The alert tables are made where missing and widened where an older Onion made them."""

import duckdb

from onion.alerts import tables


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
        [table]).fetchall()]


def test_missing_tables_are_made_and_old_ones_get_new_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    old = [(n, t) for n, t in tables.OUTBOX_COLUMNS if n != "claimed_until"]
    con.execute("CREATE TABLE alert_outbox (" + ", ".join(f'"{n}" {t}' for n, t in old) + ")")
    con.execute("INSERT INTO alert_outbox (" + ", ".join(f'"{n}"' for n, _ in old[:1]) +
                ") VALUES (1)")
    tables.ensure(con)
    assert _columns(con, "alert_outbox") == [n for n, _ in tables.OUTBOX_COLUMNS]
    assert con.execute("SELECT claimed_until FROM alert_outbox").fetchall() == [(None,)]
    for table, columns in tables.TABLES.items():
        assert _columns(con, table) == [n for n, _ in columns]
    tables.ensure(con)  # the usual case: all there, nothing changes
    assert con.execute("SELECT count(*) FROM alert_outbox").fetchone() == (1,)
