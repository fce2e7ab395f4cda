"""``onion daemon``: rounds on a schedule, the API on a socket."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from onion.cli.common import common, inventory_option, shard_option
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.errors import OnionError
from onion.core.i18n import N_
from onion.daemon.service import Daemon


@click.command(cls=Command)
@common
@inventory_option
@shard_option
@click.option("-v", "--verbose", count=True, help=N_("-v: each round; -vv: debugging detail."))
def daemon(cfg: config_mod.Config, inventory: str | None, limit: str | None,
           shard: str | None, verbose: int) -> None:
    """Poll on a schedule ([daemon] interval) over SSH connections kept open, and serve
    the API, the live report and /metrics on a Unix socket beside the database
    (TCP with TLS and a token when [daemon] listen is set). `onion ctl` talks to it.

    SIGHUP reloads the config and inventory; SIGTERM stores the round and exits.

    Example: onion daemon -i /etc/onion/hosts.ini
    """
    # journald stamps each line itself; a terminal gets the time.
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                        format=f"{stamp}%(levelname)s %(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger("onion.daemon.rounds").setLevel(logging.WARNING)
    if verbose < 2:
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    try:
        # Absolute: SIGHUP reads the same files whatever the daemon's working folder.
        where = str(Path(inventory).expanduser().resolve()) if inventory else None
        d = Daemon(str(cfg.source.resolve()) if cfg.source else None,
                   str(cfg.db_path.resolve()), where, limit, shard)
        asyncio.run(d.run())
    except OnionError as exc:
        raise click.ClickException(str(exc)) from exc
