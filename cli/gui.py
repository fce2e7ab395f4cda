"""``onion gui``: the desktop view (Qt). Qt is imported inside the command only: ``onion
--help`` and every other verb never load it."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from onion.cli.common import common
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.errors import OnionError
from onion.core.i18n import N_, _
from onion.gui.windows import DEFAULT, WINDOWS

GUI_EXTRA = "pip install 'onion-poller[gui]'"


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 200 or int(h) < 150:
        raise click.BadParameter(_("{text!r}: WIDTHxHEIGHT, e.g. 1400x860").format(text=text),
                                 param_hint="--size")
    return int(w), int(h)


@click.command(cls=Command)
@common
@click.option("--source", "want", type=click.Choice(["auto", "daemon", "database"]),
              default="auto", show_default=True,
              help=N_("auto: the daemon when one answers, else the database file (read-only)."))
@click.option("--since", "window", type=click.Choice(list(WINDOWS)), default=DEFAULT,
              show_default=True, help=N_("Window of the charts and lists."))
@click.option("--refresh", "refresh_s", type=click.FloatRange(min=0), default=30.0,
              show_default=True, metavar="SECONDS", help=N_("Reload the view shown this often "
                                                          "(0: only on F5)."))
@click.option("--screenshot", "shot", type=click.Path(dir_okay=False), metavar="FILE",
              help=N_("Render a view to this PNG and exit (needs no display)."))
@click.option("--view", default="fleet", show_default=True,
              metavar="fleet|host:NAME|alerts|changes|status",
              help=N_("The view --screenshot renders."))
@click.option("--size", "size", default="1400x860", show_default=True, metavar="WxH",
              help=N_("Window size of the screenshot."))
def gui(cfg: config_mod.Config, want: str, window: str, refresh_s: float, shot: str | None,
        view: str, size: str) -> None:
    """The desktop view: fleet, hosts, alerts, changes and the daemon, updated live.

    It talks to a running daemon through its API (its socket, or [daemon] url and
    token) and can ask it to poll now; with no daemon it reads the database file
    read-only. It never writes the database.

    Example: onion gui --screenshot fleet.png --view alerts
    """
    dims = _size(size)
    if shot:
        from onion.gui.app import offscreen_unless_shown
        offscreen_unless_shown()
    try:
        for name in ("PySide6.QtWidgets", "pyqtgraph"):  # Qt first: pyqtgraph binds to it
            importlib.import_module(name)
    except ImportError as exc:
        raise click.ClickException(_("onion gui needs Qt ({missing}): {install}").format(
            missing=exc.name or exc, install=GUI_EXTRA)) from exc
    from onion.gui import app, data

    try:
        source = data.choose(cfg, want)
        if shot:
            out = app.screenshot(source, Path(shot), view, window, dims)
            click.echo(_("{view} view written to {path}").format(view=view, path=out))
            return
        raise SystemExit(app.run(source, window, refresh_s))
    except OnionError as exc:
        raise click.ClickException(str(exc)) from exc
