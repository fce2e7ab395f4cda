"""``onion ctl``: the daemon's command-line client.

It imports the standard library, click and Onion's config only (a test checks that
DuckDB, asyncssh, numpy and aiohttp stay out), so each call costs about what starting
Python does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from onion.cli.output import emit_rows, shown
from onion.cli.translated import Group
from onion.core import config as config_mod
from onion.core.errors import OnionError
from onion.core.i18n import N_, _
from onion.daemon.client import Client


def _client(f: Callable[..., Any]) -> Callable[..., Any]:
    """--config / --db (as every verb), --format; the client built from the config."""
    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help=N_("Config file (env ONION_CONFIG): where the daemon listens."))
    @click.option("--db", "db_path", type=click.Path(dir_okay=False),
                  help=N_("The daemon's database (its socket is beside it)."))
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                  show_default=True, help=N_("table for people; json for programs."))
    @functools.wraps(f)
    def wrapper(config_path: str | None, db_path: str | None, fmt: str, **kw: Any) -> Any:
        given = click.get_current_context().obj or {}
        try:
            cfg = config_mod.load(config_path or given.get("config"),
                                  db_path or given.get("db"))
            return f(Client.from_config(cfg), fmt, **kw)
        except OnionError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=1))


@click.group(cls=Group)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=N_("Config file (env ONION_CONFIG): where the daemon listens."))
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help=N_("The daemon's database (its socket is beside it)."))
@click.pass_context
def ctl(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """Talk to a running `onion daemon`: status, hosts, poll now, queries, alerts.

    It finds the daemon through the config: the Unix socket beside the database, or
    [daemon] url (HTTPS with the token of token_file) for one on another machine.

    Example: onion ctl poll --limit 'gpu*'
    """
    given = {"config": config_path, "db": db_path}
    ctx.obj = {**(ctx.obj or {}), **{k: v for k, v in given.items() if v}}


@ctl.command()
@_client
def status(client: Client, fmt: str) -> None:
    """The daemon: last round, next round, queue, open connections.

    Example: onion ctl status --format json
    """
    s = client.get("/api/status")
    if fmt == "json":
        _json(s)
        return
    last = s.get("last_round") or {}
    click.echo(_("onion daemon {version} (pid {pid}) since {started}, {hosts} host(s) every "
                 "{interval} s").format(version=s["version"], pid=s["pid"],
                                        started=s["started_at"], hosts=s["hosts"],
                                        interval=f"{s['interval_s']:g}"))
    click.echo("  " + _("database {path}").format(path=s["database"]))
    if last:
        click.echo("  " + _("last round {run} at {started}: {ok} ok, {failed} not ok, {wall} s")
                   .format(run=last.get("run_id"), started=last["started_at"], ok=last["ok"],
                           failed=last["failed"], wall=f"{last['wall_s'] or 0:.2f}")
                   + ("" if last["stored"] else ", " + _("waiting in the queue")))
        for err in last.get("errors") or []:
            click.echo(f"    {shown(err)}")
    running = s.get("round_running")
    if running:
        click.echo("  " + _("round {run} running since {started}").format(
            run=running.get("run_id"), started=running["started_at"]))
    click.echo("  " + _("next round {at}").format(at=s.get("next_round_at") or "-"))
    r = s["rounds"]
    click.echo("  " + _("rounds {rounds}, skipped {skipped} (overran {overran}), reloads "
                        "{reloads}; SSH connections open {open}, logins {logins}").format(
        rounds=r["rounds"], skipped=r["skipped"], overran=r["overran"], reloads=r["reloads"],
        open=s["connections_open"], logins=s["ssh_logins"]))
    if s.get("queue"):
        click.echo("  " + _("queued:") + " "
                   + ", ".join(f"{k} {v}" for k, v in s["queue"].items()))
    if s.get("last_reload_error"):
        click.echo("  " + _("last reload refused: {error}").format(
            error=shown(s["last_reload_error"])))
    if s.get("shard"):
        click.echo("  " + _("shard {shard} of the inventory").format(shard=s["shard"]))
    central = s.get("central")
    if central:
        click.echo("  " + _("central: {batches} batch(es) stored, {duplicates} duplicate(s) "
                            "answered, {refused} refused").format(
            batches=central["batches"], duplicates=central["duplicates"],
            refused=central["refused"]))
        for p in central["pollers"]:
            age = _("never") if p["age_s"] is None else _("{s} s ago").format(
                s=f"{p['age_s']:.0f}")
            click.echo("    " + _("poller") + f" {shown(p['name']):20} "
                       + (_("STALE") + " " if p["stale"] else "")
                       + _("last batch {age}, {batches} batch(es), {rows} rows").format(
                           age=age, batches=p["batches"], rows=p["rows"])
                       + (", " + _("shard {shard}").format(shard=shown(p["shard"]))
                          if p["shard"] else "")
                       + (", " + _("{n} round(s) dropped").format(n=p["gaps"])
                          if p["gaps"] else ""))


@ctl.command()
@_client
def hosts(client: Client, fmt: str) -> None:
    """The inventory with each host's last status.

    Example: onion ctl hosts
    """
    data = client.get("/api/hosts")["hosts"]
    if fmt == "json":
        _json(data)
        return
    for h in data:
        click.echo(f"{shown(h['host']):28} {shown(h['target']):28} {h['status']:16} "
                   f"{h['last_seen'] or '-'}")
        if h["reason"] and h["status"] != "ok":
            click.echo(f"    {shown(h['reason'])}")
        for p in h["probes_not_ok"]:
            click.echo(f"    {shown(p)}")


@ctl.command()
@_client
@click.option("-l", "--limit", metavar="PATTERN",
              help=N_("Only these hosts (globs, groups …)."))
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900.0,
              show_default=True, help=N_("Seconds to wait for the round."))
def poll(client: Client, fmt: str, limit: str | None, timeout_s: float) -> None:
    """A round now (after the one running, if any); prints each host's outcome.

    Example: onion ctl poll --limit 'rack3:&gpu'
    """
    rec = client.post("/api/poll", {"limit": limit}, timeout=timeout_s)
    if fmt == "json":
        _json(rec)
        return
    for host, st in sorted(rec["statuses"].items()):
        click.echo(f"{shown(host):30} {st}")
    click.echo(_("round {run}: {ok} ok, {failed} not ok, {wall} s").format(
        run=rec["run_id"], ok=rec["ok"], failed=rec["failed"], wall=f"{rec['wall_s'] or 0:.2f}")
        + ("" if rec["stored"] else " " + _("(waiting in the queue)")))
    for err in rec.get("errors") or []:
        click.echo(f"onion: {shown(err)}", err=True)


@ctl.command()
@_client
@click.argument("sql")
@click.option("--max-rows", type=click.IntRange(1), default=10_000, show_default=True)
def query(client: Client, fmt: str, sql: str, max_rows: int) -> None:
    """One read-only SELECT, run by the daemon.

    Example: onion ctl query "SELECT host, used_pct FROM latest_filesystems"
    """
    out = client.post("/api/query", {"sql": sql, "max_rows": max_rows})
    emit_rows(out["columns"], out["rows"], fmt)
    if out["truncated"]:
        click.echo("onion: " + _("only the first {n} rows are shown").format(n=len(out["rows"])),
                   err=True)


def _alert_line(ev: dict[str, Any]) -> str:
    return (f"{ev.get('ts') or '-'} {ev.get('event', ''):9} {ev.get('severity') or '':8} "
            f"{shown(ev.get('rule') or ''):22} {shown(ev.get('host') or ''):24} "
            f"{shown(ev.get('item') or '-'):16} {shown(ev.get('summary') or '')}").rstrip()


@ctl.command()
@_client
@click.option("-f", "--follow", is_flag=True,
              help=N_("Then print each alert event as the daemon judges it (Ctrl-C ends)."))
def alerts(client: Client, fmt: str, follow: bool) -> None:
    """Alerts firing now; with --follow, every event as it happens.

    Example: onion ctl alerts --follow
    """
    data = client.get("/api/alerts", since="1d", limit=1)
    if fmt == "json" and not follow:
        _json(data["firing"])
        return
    if fmt == "table":
        for a in data["firing"]:
            click.echo(f"{'flapping' if a['held'] else a['state']:9} {a['severity']:8} "
                       f"{shown(a['rule']):22} {shown(a['host']):24} {shown(a['item'] or '-'):16}"
                       " " + _("since {ts}").format(ts=a["since"] or "-")
                       + f"  {shown(a['summary'] or '')}".rstrip())
        click.echo(_("({n} firing)").format(n=sum(a["state"] == "firing" for a in data["firing"])))
    if not follow:
        return
    try:
        for kind, ev in client.events():
            if kind == "alert":
                click.echo(json.dumps(ev) if fmt == "json" else _alert_line(ev))
            elif kind == "overflow":
                raise click.ClickException(_("fell behind the alert stream; run it again"))
    except KeyboardInterrupt:
        pass


@ctl.command()
@_client
def reload(client: Client, fmt: str) -> None:
    """Reload the daemon's config and inventory (as SIGHUP), and say if it was refused.

    Example: onion ctl reload
    """
    out = client.post("/api/reload")
    if fmt == "json":
        _json(out)
    else:
        click.echo(_("reloaded: {n} host(s)").format(n=out["hosts"]))
