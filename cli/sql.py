"""``onion sql``: one read-only query."""

from __future__ import annotations

import click
import duckdb

from onion.cli.common import common, emit_rows
from onion.core import config as config_mod
from onion.storage import duck as store


@click.command()
@common
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def sql(cfg: config_mod.Config, query: str, fmt: str) -> None:
    """Run a read-only SQL query on the database."""
    with store.reading(cfg.db_path) as con:
        try:
            rel = con.execute(query)
            cols = [d[0] for d in rel.description] if rel.description else []
            emit_rows(cols, rel.fetchall(), fmt)
        except duckdb.Error as exc:
            raise click.ClickException(f"SQL error: {exc}") from exc
