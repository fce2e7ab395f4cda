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
@click.option("--os", "os_name", type=click.Choice([os.value for os in OS]),
              default="linux", show_default=True)
@click.option("--part", "parts", multiple=True, metavar="PART[=FILE]",
              help="Which part FILE holds (default: the only part, or the one FILE parses "
                   "as); repeat as PART=FILE for several parts.")
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
        text = file.read().decode("utf-8", errors="replace")
        name = single[0] if single else _pick_part(probe, os, known, text)
        texts[name] = text
    unknown = set(texts) - set(known)
    if unknown:
        raise click.ClickException(f"{probe_name} on {os_name} has parts {known}, "
                                   f"not {sorted(unknown)}")
    try:
        records = probe.parse(os, texts)
    except ProbeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    for line in records.skipped:  # a poll would store these records as `partial`
        click.echo(f"onion: partial: line not understood, left out: {line!r}", err=True)
    click.echo(json.dumps([as_json(r) for r in records], indent=1))


def _pick_part(probe: Any, os: OS, known: list[str], text: str) -> str:
    """The part a lone FILE holds: the only one, or the only one it parses as; else the
    list of parts to choose from, never a silent guess."""
    if len(known) == 1:
        return known[0]
    fits = []
    for name in known:
        try:
            if len(probe.parse(os, {name: text})):
                fits.append(name)
        except ProbeError:
            continue
    if len(fits) == 1:
        click.echo(f"onion: reading FILE as part {fits[0]!r} of {probe.name} "
                   f"(parts: {', '.join(known)})", err=True)
        return fits[0]
    which = f"it parses as each of {', '.join(fits)}" if fits else "it parses as none of them"
    raise click.ClickException(
        f"{probe.name} on {os.value} reads {len(known)} parts ({', '.join(known)}) and {which}: "
        f"say which with --part NAME, or give several as --part NAME=FILE")
