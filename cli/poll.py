"""``onion poll``: one round over the fleet, cron-friendly."""

from __future__ import annotations

import sys

import click

from onion.alerts import rules as alert_rules
from onion.cli.common import common, hosts_of, inventory_option, plugins_of, shard_option, shown
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import N_, _
from onion.pipeline import check as checks
from onion.pipeline import setup
from onion.pipeline.round import RunSummary, run_poll
from onion.storage.queue import Queue


@click.command(cls=Command)
@common
@inventory_option
@shard_option
@click.option("-v", "--verbose", count=True, help=N_("Say what happened to each host."))
@click.option("-q", "--quiet", is_flag=True,
              help=N_("Not even the one line about hosts that went down (for cron)."))
@click.option("--progress/--no-progress", default=None,
              help=N_("Progress bar (default: on when stderr is a terminal)."))
def poll(cfg: config_mod.Config, inventory: str | None, limit: str | None,
         shard: str | None, verbose: int, quiet: bool, progress: bool | None) -> None:
    """Poll every host once and store the results (cron-friendly: quiet unless -v).

    Exits 0 when the round completed, even if hosts were down: down hosts are data;
    1 when a sink could not store the round (it waits in the queue); 130/143 when
    stopped by Ctrl-C / SIGTERM (what arrived is stored).

    Example: onion poll -i hosts.ini -l 'gpu:!gpu07' -v
    """
    reg = plugins_of(cfg, configured=True)
    hosts = hosts_of(cfg, inventory, limit, shard)
    probes = setup.probes(cfg, reg)
    sinks = setup.configured_sinks(cfg, reg)  # the DuckDB database joins during the round
    # Rules of the user's that name a column or table these probes do not make: refused
    # now, as `onion check` says them (the built-ins are known to bind). The config was
    # checked whole when loaded: the rules alone now, not every notifier built again.
    custom = [r for r in alert_rules.load(cfg.alerts) if not r.builtin]
    bad = checks.rule_errors(custom, probes)
    if bad:
        raise click.ClickException("; ".join(bad) + " " + _("(onion check lists every problem)"))
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = click.progressbar(length=len(hosts), label=_("polling"), file=sys.stderr) \
        if show_bar and hosts else None
    cb = (lambda r: bar.update(1)) if bar else None
    if bar:
        bar.__enter__()
    try:
        summary = run_poll(cfg, hosts, probes, cb, extra_sinks=sinks)
    finally:
        if bar:
            bar.__exit__(None, None, None)
    delivery = summary.delivery
    if verbose:
        for r in summary.results:
            line = f"{shown(r.host.name):30} {r.status:18} {shown(r.reason or '')}"
            click.echo(line.rstrip())
            if verbose > 1:
                for p in r.probes.values():
                    click.echo(f"    {p.probe:14} {p.status:12} {shown(p.reason or '')}"
                               .rstrip())
        where = _("stored in {path}").format(path=cfg.db_path) if summary.stored else \
            _("NOT stored yet: waiting in {path}").format(path=cfg.spool_path)
        click.echo(_("{ok}/{n} hosts ok in {wall} s; {where}").format(
            ok=summary.ok, n=len(summary.results), wall=f"{summary.wall_s:.2f}", where=where))
        if verbose > 1:
            click.echo(_("CPU seconds of this run:") + " " + ", ".join(
                f"{k} {v:.3f}" for k, v in summary.phases.items()))
    thinned = summary.maintenance.thinned if summary.maintenance else []
    if thinned:
        click.echo("onion: " + _("over the storage budget ([storage] max_size), dropped the "
                                 "oldest archive files: {files}").format(
            files=", ".join(thinned[:10])) + (" …" if len(thinned) > 10 else ""), err=True)
    failed = False
    for report in delivery.reports.values():
        if report.ok:
            continue
        waits = _("this run waits in {path} ({n} batch(es) queued)").format(
            path=cfg.spool_path, n=report.waiting)
        if report.busy:
            click.echo("onion: " + _("database busy; {waits} and is stored by the next run "
                                     "({error})").format(waits=waits, error=report.error),
                       err=True)
        else:
            click.echo("onion: " + _("sink {sink} failed, {waits}: {error}").format(
                sink=report.name, waits=waits, error=report.error), err=True)
            failed = True
    for report in delivery.reports.values():
        for item in report.quarantined:
            click.echo("onion: " + _("sink {sink} refused queued batch {batch}; moved to the "
                                     "quarantine so that the batches after it go in").format(
                sink=report.name, batch=item), err=True)
    held = Queue(cfg.spool_path).quarantined()
    if held:
        click.echo("onion: " + _("{n} batch(es) in quarantine in {path} (onion db stats lists "
                                 "them with the reasons)").format(n=len(held),
                                                                 path=held[0].parent), err=True)
    if not quiet:
        _cron_lines(summary)
    for line in summary.warnings:
        click.echo(f"onion: {line}", err=True)
    for line in summary.errors:
        click.echo(f"onion: {line}", err=True)
    if delivery.dropped:
        click.echo("onion: " + _("the queue is over [storage] max_spool: dropped the {n} "
                                 "oldest batch(es) ({runs}); recorded in storage_events").format(
            n=len(delivery.dropped),
            runs=", ".join(str(d["run_id"]) for d in delivery.dropped[:5])
            + (" …" if len(delivery.dropped) > 5 else "")), err=True)
    if delivery.lost:
        click.echo("onion: " + _("this run's batch is lost: {error}").format(error=delivery.lost),
                   err=True)
    if summary.signal is not None:
        cut = sum(r.status == "interrupted" for r in summary.results)
        click.echo("onion: " + _("stopped by signal {signal}: {n} host(s) cut (interrupted), "
                                 "what arrived is stored").format(signal=summary.signal, n=cut),
                   err=True)
        sys.exit(128 + summary.signal)
    if failed or delivery.lost or summary.errors:
        sys.exit(1)


def _cron_lines(summary: RunSummary) -> None:
    """Quiet from cron unless something changed: one line when hosts went down since
    their last poll, one when every host failed (then it is likely this machine)."""
    if summary.results and summary.ok == 0 and len(summary.results) > 1:
        click.echo("onion: " + _("every host failed this round ({n}): check this machine's "
                                 "network, keys and known_hosts (onion check says why)").format(
            n=len(summary.results)), err=True)
    elif summary.went_down:
        shown_hosts = ", ".join(f"{shown(r.host.name)} ({r.status})"
                                for r in summary.went_down[:10])
        more = " …" if len(summary.went_down) > 10 else ""
        click.echo("onion: " + _("{n} host(s) went down since their last poll: {hosts}").format(
            n=len(summary.went_down), hosts=shown_hosts) + more, err=True)
