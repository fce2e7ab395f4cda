"""The ``onion`` command line: one group, one module per verb (or verb group)."""

from __future__ import annotations

import click

from onion.cli.alerts import alerts
from onion.cli.db import db
from onion.cli.hosts import hosts
from onion.cli.init import init
from onion.cli.parse import parse
from onion.cli.plugins import plugins
from onion.cli.poll import poll
from onion.cli.report import report
from onion.cli.sql import sql


@click.group()
@click.version_option(package_name="onion-poller")
def main() -> None:
    """Onion: agentless monitoring over SSH into DuckDB."""


for command in (poll, sql, hosts, parse, report, init, alerts, db, plugins):
    main.add_command(command)
