"""``onion alerts``: what fires now, what happened, and what a rule would have done."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from onion.alerts import config as alert_config
from onion.alerts import engine, tables
from onion.cli.common import common, emit_rows, format_option
from onion.cli.translated import Group
from onion.core import duration
from onion.core.clock import utcnow
from onion.core.errors import ConfigError
from onion.core.i18n import N_, _, formats, ngettext
from onion.storage import catalog
from onion.storage import duck as store


def _since(text: str) -> dt.datetime:
    try:
        return utcnow() - duration.parse(text, "--since")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


def _ts(t: dt.datetime | None) -> str:
    """A time in a table for people: ISO 8601 with a Z in English, the language's date and
    time (in UTC, saying so) in the others; CSV and JSON keep theirs in every language."""
    if not t:
        return "-"
    f = formats()
    return t.isoformat(sep=" ") + "Z" if f.iso else f.datetime(t, seconds=True)


# Nagios' plugin exit codes: what a script or a monitoring system gates on.
CHECK_EXIT = {"info": 0, "warning": 1, "critical": 2}


@click.group("alerts", cls=Group, invoke_without_command=True)
@common
@click.option("--check", is_flag=True,
              help=N_("Exit like a Nagios plugin: 0 nothing firing (or only info), 1 a warning "
                      "firing, 2 a critical one."))
@format_option
@click.pass_context
def alerts(ctx: click.Context, cfg: Any, check: bool, fmt: str) -> None:
    """Alerts firing now (and pending, flapping), with since when and for how long.

    Example: onion alerts --check || page-the-admin
    """
    if ctx.invoked_subcommand is not None:
        return
    with store.reading(cfg.db_path) as con:
        if not tables.exists(con):
            click.echo(_("no alerts evaluated yet (they are, after each `onion poll`)"))
            return
        rows = con.execute(tables.CURRENT_SQL).fetchall()
        outbox = con.execute(
            "SELECT notifier, count(*), max(last_error) FROM alert_outbox "
            "WHERE status = 'pending' AND attempts > 0 GROUP BY notifier").fetchall()
    now = utcnow()
    if fmt != "table":
        emit_rows(["rule", "severity", "host", "item", "state", "held", "value", "summary",
                   "since"], rows, fmt)
    for rule, sev, host, item, state, held, value, summary, since in rows if fmt == "table" \
            else ():
        shown = "flapping" if held else state
        took = duration.show(now - since) if since else "-"
        click.echo(f"{shown:9} {sev:8} {rule:22} {host:24} {item or '-':20} {value or '':>10}  "
                   + _("since {ts} ({took})").format(ts=_ts(since), took=took))
        if summary:
            click.echo(f"    {summary}")
    if fmt == "table":
        click.echo(_("({firing} firing, {pending} pending)").format(
            firing=sum(r[4] == "firing" for r in rows),
            pending=sum(r[4] == "pending" for r in rows)))
    for notifier, n, error in outbox:
        click.echo(_("notifier {notifier}: {n} message(s) waiting to be retried ({error})")
                   .format(notifier=notifier, n=n, error=error), err=True)
    if check:
        worst = max((CHECK_EXIT.get(r[1], 0) for r in rows if r[4] == "firing"), default=0)
        ctx.exit(worst)


@alerts.command("history")
@common
@click.option("--since", "since", default="7d", show_default=True, help=N_("How far back."))
@click.option("--rule", help=N_("Only this rule."))
@click.option("--host", help=N_("Only this host."))
@click.option("--all", "everything", is_flag=True,
              help=N_("Also pending and cancelled (not told) events."))
@format_option
def history(cfg: Any, since: str, rule: str | None, host: str | None,
            everything: bool, fmt: str) -> None:
    """What fired, resolved, flapped and repeated, oldest first.

    Example: onion alerts history --since 30d --rule gpu_hot --format csv
    """
    where = ["ts >= ?"]
    params: list[Any] = [_since(since)]
    if rule:
        where.append("rule = ?")
        params.append(rule)
    if host:
        where.append("host = ?")
        params.append(host)
    if not everything:
        where.append("event NOT IN ('pending', 'cancelled')")
    with store.reading(cfg.db_path) as con:
        if not tables.exists(con, "alert_events"):
            click.echo(_("no alert history yet"))
            return
        rows = con.execute(
            "SELECT ts, event, severity, rule, host, item, value, notify, duration_s "
            f"FROM alert_events WHERE {' AND '.join(where)} ORDER BY ts, rule, host, item "
            "LIMIT 10000", params).fetchall()
    if fmt != "table":
        emit_rows(["ts", "event", "severity", "rule", "host", "item", "value", "told",
                   "duration_s"], rows, fmt)
        return
    for ts, event, sev, rname, h, item, value, notify, dur in rows:
        after = " " + _("after {took}").format(took=duration.show(dt.timedelta(seconds=dur))) \
            if dur and event == "resolved" else ""
        click.echo(f"{_ts(ts)} {event:9} {sev:8} {rname:22} {h:24} {item or '-':20} "
                   f"{value or ''}{after}{'' if notify else '  ' + _('(not told)')}".rstrip())
    click.echo(ngettext("({n} event)", "({n} events)", len(rows)).format(n=len(rows)))


@alerts.command("test")
@common
@click.argument("rule_name", metavar="RULE")
@click.option("--since", "since", default="7d", show_default=True,
              help=N_("Replay the polls stored since then."))
def test(cfg: Any, rule_name: str, since: str) -> None:
    """Replay RULE over stored history: when it would have fired and cleared, and how
    many notifications it would have sent.

    Example: onion alerts test gpu_very_hot --since 30d
    """
    loaded = {r.name: r for r in alert_config.check(cfg)}
    if rule_name not in loaded:
        raise click.ClickException(_("no rule {rule!r} in force; rules: {rules}").format(
            rule=rule_name, rules=", ".join(sorted(loaded))))
    rule = loaded[rule_name]
    with store.reading(cfg.db_path) as con:
        specs = catalog.table_specs(con)
        out = engine.replay(con, rule, _since(since), alert_config.policy(cfg.alerts), specs)
    if rule.name in out.errors:
        raise click.ClickException(_("rule {rule}: {error}").format(
            rule=rule.name, error=out.errors[rule.name]))
    told = [e for e in out.events if e.notify]
    for e in out.events:
        if e.event in ("pending", "cancelled"):
            continue
        after = " " + _("after {took}").format(took=duration.show(e.duration)) \
            if e.event == "resolved" and e.duration else ""
        click.echo(f"{_ts(e.ts)} {e.event:9} {e.host:24} {e.item or '-':20} "
                   f"{e.value or ''}{after}{'' if e.notify else '  ' + _('(not told)')}".rstrip())
    fired = sum(e.event == "firing" for e in out.events)
    resolved = sum(e.event == "resolved" for e in out.events)
    runs = len({e.run_id for e in told})
    notifiers = rule.notifiers or tuple(cfg.alerts.notifiers)
    click.echo(_("{rule}: {polls} polls replayed; fired {fired} time(s), resolved {resolved}; "
                 "{told} alert notification(s) in {runs} run message(s) to each of "
                 "{notifiers} notifier(s)").format(
        rule=rule.name, polls=len(out.runs), fired=fired, resolved=resolved, told=len(told),
        runs=runs, notifiers=len(notifiers))
        + (" (" + ", ".join(notifiers) + ")" if notifiers else ""))


@alerts.command("rules")
@common
@format_option
def rules_cmd(cfg: Any, fmt: str) -> None:
    """The rules in force, built-in ones tuned by the config included.

    Example: onion alerts rules --format json
    """
    loaded = alert_config.check(cfg)
    if fmt != "table":
        emit_rows(["name", "severity", "table", "condition", "clear", "for_s", "polls", "event",
                   "builtin"], [(r.name, r.severity.value, r.table or None, r.condition,
                                 r.clear_sql, r.hold.total_seconds() if r.hold else 0.0,
                                 r.polls, r.event, r.builtin) for r in loaded], fmt)
        return
    for r in loaded:
        src = r.table or _("(source)")
        extra = " " + _("for {took}").format(took=duration.show(r.hold)) if r.hold else ""
        extra += " " + _("in {n} polls").format(n=r.polls) if r.polls > 1 else ""
        click.echo(f"{r.name:22} {r.severity.value:8} {src:16} {r.condition}{extra}"
                   f"{'  [event]' if r.event else ''}")
