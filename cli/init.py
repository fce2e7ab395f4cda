"""``onion init``: a config file with every default."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

from onion.cli.common import group_options
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.files import write_private
from onion.core.i18n import N_, _


@click.command(cls=Command)
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=N_("Where to write it (the same as PATH)."))
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help=N_("The database the written config names in [storage] db."))
@click.option("--force", is_flag=True, help=N_("Overwrite an existing file."))
def init(path: str | None, config_path: str | None, db_path: str | None, force: bool) -> None:
    """Write a commented example config with every default (0600: it may come to hold a
    mail password), at PATH, else $ONION_CONFIG, else ~/.config/onion/onion.toml; and
    beside it a random token for the daemon's API over TCP (kept if it exists).

    Example: onion init /etc/onion/onion.toml
    """
    given = group_options()
    target = Path(path or config_path or given.get("config") or os.environ.get("ONION_CONFIG")
                  or config_mod.DEFAULT_CONFIG).expanduser()
    if target.exists() and not force:
        raise click.ClickException(
            _("{path} exists (use --force to overwrite)").format(path=target))
    text = config_mod.EXAMPLE
    db = db_path or given.get("db") or os.environ.get("ONION_DB")
    if db:
        default = 'db = "~/.local/share/onion/onion.duckdb"'
        text = text.replace(default, f"db = {json.dumps(str(Path(db).expanduser()))}", 1)
    # The daemon's bearer token (asked on TCP only), beside the config, never overwritten:
    # clients configured with it keep working.
    token = target.with_name("token")
    line = 'token_file = "~/.config/onion/token"'
    text = text.replace(line, f"token_file = {json.dumps(str(token))}", 1)
    write_private(target, text)
    click.echo(_("wrote {path}").format(path=target))
    if not token.exists():
        write_private(token, secrets.token_urlsafe(32) + "\n")
        click.echo(_("wrote {path} (the daemon's API token, for TCP clients)").format(path=token))
