"""``onion plugins``: every loaded plugin, its kind and where it came from."""

from __future__ import annotations

import click

from onion.cli.common import common, emit_rows, format_option, plugins_of
from onion.cli.translated import Command
from onion.core import config as config_mod


@click.command(cls=Command)
@common
@format_option
def plugins(cfg: config_mod.Config, fmt: str) -> None:
    """List the probes, sinks and notifiers Onion found: built in, installed (entry
    points) or dropped into a [plugins] paths folder; and any that failed to load.

    Example: onion plugins --format json
    """
    reg = plugins_of(cfg)
    rows = [(p.kind.value, p.name, "built-in" if p.builtin else "plugin", p.origin)
            for p in reg.all()]
    rows += [("broken", "-", "error", line) for line in reg.broken]
    emit_rows(["kind", "name", "source", "origin"], rows, fmt)
