"""What every verb shares: the common options, loading config, inventory and plugins,
and printing rows as a table, CSV or JSON."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from onion.core import config as config_mod
from onion.core.errors import OnionError
from onion.pipeline import setup


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options every verb takes."""
    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help="Config file (env ONION_CONFIG; default ~/.config/onion/onion.toml).")
    @click.option("--db", "db_path", type=click.Path(dir_okay=False),
                  help="DuckDB file (env ONION_DB; default ~/.local/share/onion/onion.duckdb).")
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
                     help="Hosts to use: globs, groups, ! to exclude, & to intersect.")(f)
    return click.option("-i", "--inventory", "inventory", type=click.Path(),
                        help="Inventory file (Ansible INI/YAML, Onion YAML or a host list) "
                             "or an Ansible inventory folder; none: this machine.")(f)


def hosts_of(cfg: config_mod.Config, inventory: str | None, limit: str | None) -> list[Any]:
    from onion.inventory import limit as limit_mod
    from onion.inventory import loader, sshconfig

    path = inventory or cfg.inventory or None
    password = None
    if cfg.vault_password_file:
        try:
            password = Path(cfg.vault_password_file).expanduser().read_bytes().strip()
        except OSError as exc:
            raise OnionError(f"vault_password_file {cfg.vault_password_file}: "
                             f"{exc.strerror}") from exc
    hosts = loader.load(Path(path).expanduser() if path else None, password)
    if limit:
        hosts = limit_mod.select(hosts, limit)
    paths = [Path(p).expanduser() for p in cfg.ssh.config]
    remote = any(not h.local for h in hosts)
    for loose in sshconfig.loose_host_key_checking(paths) if remote else ():
        click.echo(f"onion: {loose} says StrictHostKeyChecking no; not followed: host keys "
                   "are always verified ([ssh] host_key_policy = \"accept-new\" trusts new "
                   "ones on first use)", err=True)
    return [h if h.local else sshconfig.resolve(h, paths) for h in hosts]


def probes_of(cfg: config_mod.Config) -> list[Any]:
    return setup.probes(cfg, plugins_of(cfg))


def plugins_of(cfg: config_mod.Config) -> Any:
    """The plugin registry; each plugin that could not be loaded is said once, on stderr."""
    reg = setup.plugins(cfg)
    for line in reg.broken:
        click.echo(f"onion: {line}", err=True)
    return reg


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--format: a table for people, CSV or JSON (exact values, never translated)."""
    return click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                        default="table", show_default=True,
                        help="table for people; csv or json for programs.")(f)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"  # a FLOAT column's 1.340000033378601 is 1.34 to a person
    return str(v)


def emit_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Rows as a table for people (numbers rounded), or CSV / JSON for programs (exact)."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(cols, r, strict=True)) for r in rows],
                              default=str, indent=1))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        texts = [[shown(_cell(v)) for v in r] for r in rows]
        widths = [max([len(c), *(min(len(t[i]), 60) for t in texts)]) for i, c in enumerate(cols)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        click.echo("  ".join("-" * w for w in widths))
        for t in texts:
            cells = [(v if len(v) <= 60 else v[:59] + "…").ljust(w)
                     for v, w in zip(t, widths, strict=True)]
            click.echo("  ".join(cells).rstrip())
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]}


def shown(text: object) -> str:
    """Text from a host or an inventory, safe on one terminal line: control characters
    (a newline would forge a line of output) written as \\xNN."""
    return str(text).translate(_CONTROL)
