"""``onion report``: the HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from onion.cli.common import common
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import N_, _
from onion.storage import duck as store


@click.command(cls=Command)
@common
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help=N_("Folder to write (default: [report] out)."))
@click.option("--since", "since", default="7d", show_default=True, metavar="DURATION",
              help=N_("Window the charts and change lists cover: 12h, 7d, 2w …"))
@click.option("-l", "--limit", "limit", metavar="PATTERN",
              help=N_("Hosts to show: globs, groups, ! to exclude, & to intersect."))
@click.option("--templates", "templates", type=click.Path(file_okay=False, exists=True),
              help=N_("Folder of templates that override the built-in ones (any of them)."))
@click.option("--force", is_flag=True,
              help=N_("Write every page (by default only those whose data changed)."))
def report(cfg: config_mod.Config, out_dir: str | None, since: str, limit: str | None,
           templates: str | None, force: bool) -> None:
    """Write the HTML report: fleet overview, a page per host, alerts, changes.

    The folder is self-contained (no network fetch): open index.html, serve it, or mail it.
    Pages whose data did not change since the last run are left as they are.

    Example: onion report --out /var/www/onion --since 2d
    """
    from onion.inventory import limit as limit_mod
    from onion.inventory.model import Host
    from onion.reports import names, render

    try:
        window = names.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    chosen: set[str] | None = None
    if limit:
        with store.reading(cfg.db_path) as con:
            known = [Host(name=n, groups=tuple(g or ())) for n, g in con.execute(
                "SELECT host, groups FROM hosts ORDER BY host").fetchall()]
        chosen = {h.name for h in limit_mod.select(known, limit)}
    out = Path(out_dir or cfg.report.out).expanduser()
    index = render.write_report(cfg.db_path, out, Path(templates) if templates else None,
                                since=window, hosts=chosen,
                                always_show=cfg.report.always_show, force=force)
    click.echo(_("report written to {path}").format(path=index))
