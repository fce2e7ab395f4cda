"""``onion check``: what a poll would meet, without storing anything."""

from __future__ import annotations

import asyncio
import sys

import click

from onion.alerts import config as alert_config
from onion.cli.common import (
    common,
    emit_rows,
    format_option,
    hosts_of,
    inventory_option,
    plugins_of,
    shown,
)
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import _
from onion.core.status import HostStatus, ProbeStatus
from onion.pipeline import check as checks
from onion.pipeline import setup
from onion.poller.run import fd_budget, poll_hosts


@click.command(cls=Command)
@common
@inventory_option
@format_option
def check(cfg: config_mod.Config, inventory: str | None, limit: str | None, fmt: str) -> None:
    """Check the config, the inventory and the alert rules, then reach every host (or
    those of --limit) as a poll would, storing nothing: per host, whether it answers,
    its host key, its login, its OS, and which probes would be unavailable and why.

    Exits 1 when something is wrong, 0 when a poll would find everything in order.

    Example: onion check -i hosts.ini -l 'gpu*'
    """
    reg = plugins_of(cfg)
    probes = setup.probes(cfg, reg)
    setup.sinks(cfg, reg)  # a sink table that cannot be built is an error here too
    problems = checks.rule_errors(alert_config.check(cfg), probes)
    for line in problems:
        click.echo(f"onion: {line}", err=True)
    hosts = hosts_of(cfg, inventory, limit)
    concurrency, lowered = fd_budget(min(cfg.poller.concurrency, max(len(hosts), 1)))
    if lowered:
        click.echo(f"onion: {lowered}", err=True)
    results = asyncio.run(poll_hosts(cfg, hosts, probes, None, concurrency))
    rows = []
    for r in results:
        off = [f"{p.probe}: {p.status} ({p.reason})" for p in r.probes.values()
               if p.status not in (ProbeStatus.OK, ProbeStatus.UNSUPPORTED)]
        rows.append((r.host.name, str(r.status), r.os.value if r.os else None, r.host_key,
                     r.reason, "; ".join(off)))
    if fmt != "table":
        emit_rows(["host", "status", "os", "host_key", "reason", "probes"], rows, fmt)
    else:
        for name, status, os_name, _key, reason, off in rows:
            click.echo(f"{shown(name):28} {status:18} {os_name or '-'}")
            if reason:
                click.echo(f"    {shown(reason)}")
            if off:
                click.echo("    " + _("unavailable or failing: {probes}").format(
                    probes=shown(off)))
        bad = sum(r.status != HostStatus.OK for r in results)
        click.echo(_("{ok}/{n} hosts would poll fine").format(ok=len(results) - bad,
                                                            n=len(results))
                   + ("; " + _("{n} rule problem(s)").format(n=len(problems))
                      if problems else ""))
    if problems or any(r.status != HostStatus.OK for r in results):
        sys.exit(1)
