"""``onion sql``: one read-only query."""

from __future__ import annotations

import click

from onion.cli.common import common, emit_rows, format_option
from onion.core import config as config_mod
from onion.storage import duck as store


@click.command()
@common
@click.argument("query")
@format_option
@click.option("--max-rows", type=click.IntRange(1), default=10_000, show_default=True,
              help="Rows printed at most (a note on stderr says when there were more).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, help="Seconds the query may run.")
def sql(cfg: config_mod.Config, query: str, fmt: str, max_rows: int, timeout_s: float) -> None:
    """Run one read-only SELECT on the database (tables, views such as latest_processes
    and network_rates, and the archive behind them). Nothing else runs: no second
    statement, no SET, COPY, ATTACH or INSTALL, no file outside the database's archive.

    Example: onion sql "SELECT host, mount, used_pct FROM latest_filesystems"
    """
    with store.reading(cfg.db_path) as con:
        out = store.select(con, query, max_rows, timeout_s)
    emit_rows(out.columns, out.rows, fmt)
    if out.truncated:
        click.echo(f"onion: only the first {max_rows} rows are shown (--max-rows)", err=True)
