"""``onion parse``: a probe's parser on saved output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from onion.cli.common import common, plugins_of
from onion.core import config as config_mod
from onion.core.plugins import PluginKind
from onion.probes.base import OS, ProbeError, as_json


@click.command()
@common
@click.argument("probe_name", metavar="PROBE")
@click.option("--os", "os_name", type=click.Choice(["linux", "freebsd", "openbsd", "macos"]),
              default="linux", show_default=True)
@click.option("--part", "parts", multiple=True, metavar="PART[=FILE]",
              help="Which part FILE holds (default: the probe's first part); "
                   "repeat as PART=FILE for several parts.")
@click.argument("file", type=click.File("rb"), default="-")
def parse(cfg: config_mod.Config, probe_name: str, os_name: str, parts: tuple[str, ...],
          file: Any) -> None:
    """Run PROBE's parser on saved output and print the records as JSON.

    Example: onion parse memory --os linux /proc/meminfo
    """
    probes = plugins_of(cfg).of(PluginKind.PROBE)
    if probe_name not in probes:
        raise click.ClickException(
            f"unknown probe {probe_name!r}; known: {', '.join(sorted(probes))}")
    probe = probes[probe_name]
    os = OS(os_name)
    if not probe.supports(os):
        raise click.ClickException(f"{probe_name}: {probe.why_unsupported(os)}")
    known = [p.name for p in probe.parts[os]]
    texts: dict[str, str] = {}
    single = [p for p in parts if "=" not in p]
    for spec in parts:
        if "=" in spec:
            name, path = spec.split("=", 1)
            texts[name] = Path(path).read_bytes().decode("utf-8", errors="replace")
    if single or not texts:
        name = single[0] if single else known[0]
        texts[name] = file.read().decode("utf-8", errors="replace")
    unknown = set(texts) - set(known)
    if unknown:
        raise click.ClickException(f"{probe_name} on {os_name} has parts {known}, "
                                   f"not {sorted(unknown)}")
    try:
        records = probe.parse(os, texts)
    except ProbeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    click.echo(json.dumps([as_json(r) for r in records], indent=1))
