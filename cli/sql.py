"""``onion sql``: one read-only query."""

from __future__ import annotations

import click

from onion.cli.common import common, emit_rows, format_option
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import N_, _
from onion.storage import duck as store


@click.command(cls=Command)
@common
@click.argument("query")
@format_option
@click.option("--max-rows", type=click.IntRange(1), default=10_000, show_default=True,
              help=N_("Rows printed at most (a note on stderr says when there were more)."))
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, help=N_("Seconds the query may run."))
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
        click.echo("onion: " + _("only the first {n} rows are shown (--max-rows)").format(
            n=max_rows), err=True)
