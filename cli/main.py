"""The ``onion`` command line: one group, one module per verb (or verb group)."""

from __future__ import annotations

import click

from onion.cli.alerts import alerts
from onion.cli.check import check
from onion.cli.db import db
from onion.cli.hosts import hosts
from onion.cli.init import init
from onion.cli.parse import parse
from onion.cli.plugins import plugins
from onion.cli.poll import poll
from onion.cli.report import report
from onion.cli.sql import sql


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="onion-poller")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file for every verb (env ONION_CONFIG).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="DuckDB file for every verb (env ONION_DB).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """Onion: agentless monitoring over SSH into DuckDB.

    --config and --db may stand before the verb or after it (after wins).
    """
    ctx.obj = {"config": config_path, "db": db_path}


for command in (poll, check, sql, hosts, parse, report, init, alerts, db, plugins):
    main.add_command(command)
