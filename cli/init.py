"""``onion init``: a config file with every default."""

from __future__ import annotations

from pathlib import Path

import click

from onion.core import config as config_mod


@click.command()
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str | None, force: bool) -> None:
    """Write a commented example config with every default."""
    target = Path(path or config_mod.DEFAULT_CONFIG).expanduser()
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_mod.EXAMPLE)
    click.echo(f"wrote {target}")
