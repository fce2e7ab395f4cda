"""``onion init``: a config file with every default."""

from __future__ import annotations

import os
from pathlib import Path

import click

from onion.core import config as config_mod
from onion.core.files import write_private


@click.command()
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str | None, force: bool) -> None:
    """Write a commented example config with every default (0600: it may come to hold a
    mail password), at PATH, else $ONION_CONFIG, else ~/.config/onion/onion.toml.

    Example: onion init /etc/onion/onion.toml
    """
    target = Path(path or os.environ.get("ONION_CONFIG") or config_mod.DEFAULT_CONFIG)
    target = target.expanduser()
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (use --force to overwrite)")
    write_private(target, config_mod.EXAMPLE)
    click.echo(f"wrote {target}")
