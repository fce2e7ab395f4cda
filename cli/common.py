"""What every verb shares: the common options, loading config, inventory and plugins;
printing rows is :mod:`onion.cli.output`'s (re-exported here)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from onion.cli.output import emit_rows, format_option, shown
from onion.core import config as config_mod
from onion.core.errors import OnionError
from onion.core.i18n import N_
from onion.pipeline import setup

__all__ = ["common", "emit_rows", "format_option", "group_options", "hosts_of",
           "inventory_option", "plugins_of", "probes_of", "shown"]


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options every verb takes."""
    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help=N_("Config file (env ONION_CONFIG; default "
                          "~/.config/onion/onion.toml)."))
    @click.option("--db", "db_path", type=click.Path(dir_okay=False),
                  help=N_("DuckDB file (env ONION_DB; default "
                          "~/.local/share/onion/onion.duckdb)."))
    @functools.wraps(f)
    def wrapper(config_path: str | None, db_path: str | None, **kw: Any) -> Any:
        given = group_options()
        try:
            cfg = setup.load_config(config_path or given.get("config"),
                                    db_path or given.get("db"))
            return f(cfg, **kw)
        except OnionError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def group_options() -> dict[str, Any]:
    """--config / --db given before the verb (``onion --db X poll``)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, dict) else {}


def inventory_option(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-l", "--limit", "limit", metavar="PATTERN",
                     help=N_("Hosts to use: globs, groups, ! to exclude, & to intersect."))(f)
    return click.option("-i", "--inventory", "inventory", type=click.Path(),
                        help=N_("Inventory file (Ansible INI/YAML, Onion YAML or a host list) "
                                "or an Ansible inventory folder; none: this machine."))(f)


def shard_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--shard", metavar="K/N",
                        help=N_("Only shard K of N of the inventory (N pollers split it by host "
                                "name; adding one moves only 1/N of the hosts). Default: "
                                "[daemon] shard."))(f)


def hosts_of(cfg: config_mod.Config, inventory: str | None, limit: str | None,
             shard: str | None = None) -> list[Any]:
    hosts, warnings = setup.inventory(cfg, inventory, limit, shard)
    for line in warnings:
        click.echo(f"onion: {line}", err=True)
    return hosts


def probes_of(cfg: config_mod.Config) -> list[Any]:
    return setup.probes(cfg, plugins_of(cfg))


def plugins_of(cfg: config_mod.Config, configured: bool = False) -> Any:
    """The plugin registry; each plugin that could not be loaded is said once, on stderr.
    ``configured``: only the sinks and notifiers the config names (see setup.plugins)."""
    reg = setup.plugins(cfg, configured=configured)
    for line in reg.broken:
        click.echo(f"onion: {line}", err=True)
    return reg


