"""``onion central``: what a central Onion needs for its pollers."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import click

from onion.cli.common import group_options
from onion.cli.translated import Group
from onion.core import config as config_mod
from onion.core.files import private_dir, write_private
from onion.core.i18n import N_, _

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@click.group(cls=Group)
def central() -> None:
    """A central Onion ([daemon] role = "central") takes batches from pollers, each
    forwarding through a [sinks.NAME] of type "onion" with a token of its own."""


@central.command()
@click.argument("name")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=N_("The central's config (the token goes beside it, in pollers/)."))
@click.option("--force", is_flag=True, help=N_("Replace the poller's token (it must be "
                                                "copied to the poller again)."))
def token(name: str, config_path: str | None, force: bool) -> None:
    """Write a new random token for poller NAME beside the central's config
    (pollers/NAME.token, 0600), and say what goes into both configs.

    Example: onion central token hpc1 --config /etc/onion/onion.toml
    """
    if not _NAME.fullmatch(name):
        raise click.ClickException(_("poller name {name!r}: letters, digits, '.', '_' and '-' "
                                     "(up to 63)").format(name=name))
    given = group_options()
    cfg_path = Path(config_path or given.get("config") or os.environ.get("ONION_CONFIG")
                    or config_mod.DEFAULT_CONFIG).expanduser()
    folder = cfg_path.parent / "pollers"
    path = folder / f"{name}.token"
    if path.exists() and not force:
        raise click.ClickException(_("{path} exists (--force makes a new one)").format(path=path))
    private_dir(folder)
    write_private(path, secrets.token_urlsafe(32) + "\n")
    click.echo(_("wrote {path} (poller {name}'s token; copy it to that poller, mode 0600)")
               .format(path=path, name=name))
    click.echo("\n" + _("In the central's {file}:").format(file=cfg_path.name)
               + f"\n\n[central.pollers.{name}]\ntoken_file = {json.dumps(str(path))}\n")
    click.echo(_("In poller {name}'s config, with the token copied there:").format(name=name)
               + "\n\n"
               f"[sinks.central]\ntype = \"onion\"\nurl = \"https://CENTRAL:PORT\"  "
               f"# the central's [daemon] listen\n"
               f"token_file = \"/etc/onion/central.token\"\n"
               f"tls_ca = \"/etc/onion/central-ca.pem\"  # the central's certificate or CA\n"
               f"poller = {json.dumps(name)}")
